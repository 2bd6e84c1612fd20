"""OpenStack services bound to VIPs, and the active/passive database and queue."""
from __future__ import annotations

from typing import Literal

from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr, field_validator

from ..catalog import SERVICES
from .base import HostName, IniKey, Name, Region, StrictModel, Text, UserName, secret_line

Password = Annotated[SecretStr, AfterValidator(secret_line)]


class OpenStackSpec(StrictModel):
    region: Region = "RegionOne"
    api_vip: Name
    # Host name or address in the public endpoints (the seed's PUBLIC_VIP); the API VIP if unset.
    public_endpoint_host: HostName | None = None
    services: list[str] = Field(default_factory=lambda: ["keystone"], min_length=1)
    # systemd units (today's packages) or the seed's ocf:openstack agents.
    resource_agents: Literal["systemd", "ocf-openstack"] = "systemd"
    # keystone's uwsgi processes per controller (active/active); default: the package's 8.
    keystone_processes: int | None = Field(default=None, ge=1, le=64)
    admin_password: Password
    # One password per project: its database user and its keystone service user.
    service_passwords: dict[Name, Password] = {}
    # Extra options per project, section and option, written last into the project's config
    # fragment (e.g. glance's image store). Not for secrets: the values are plain config,
    # one line each; oslo.config expands `$option` in them (`$$` is a literal `$`).
    settings: dict[Name, dict[IniKey, dict[IniKey, Text]]] = {}

    @field_validator("services")
    @classmethod
    def _known(cls, services: list[str]) -> list[str]:
        unknown = [s for s in services if s not in SERVICES]
        if unknown:
            raise ValueError(f"unknown service(s) {unknown}; known: {sorted(SERVICES)}")
        if len(set(services)) != len(services):
            raise ValueError("a service is listed twice")
        return services


class DrbdDatabaseSpec(StrictModel):
    """The seed's MySQL on DRBD behind a VIP (active/passive)."""

    vip: Name
    volume: Name
    root_password: Password


class DrbdMessagingSpec(StrictModel):
    """The seed's RabbitMQ on DRBD behind a VIP (active/passive)."""

    vip: Name
    volume: Name
    erlang_cookie: SecretStr
    user: UserName = "openstack"
    password: Password
