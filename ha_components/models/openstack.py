"""OpenStack services bound to VIPs, and the active/passive database and queue."""
from __future__ import annotations

from typing import Literal

from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr, field_validator

from ..catalog import RETIRED, SERVICES
from .base import HostName, IfName, IniKey, Name, Region, StrictModel, Text, UserName, secret_line

Password = Annotated[SecretStr, AfterValidator(secret_line)]


class OpenStackSpec(StrictModel):
    """The OpenStack services, their VIP and their keystone endpoints."""

    region: Region = "RegionOne"
    """Keystone region of the endpoints (letters, digits, `_.-`)."""
    api_vip: Name = Field(examples=["api"])
    """The VIP the API services and their endpoints use (in active-active: haproxy.vip)."""
    public_endpoint_host: HostName | None = Field(default=None, examples=["cloud.example.org"])
    """Host name or address in the public endpoints (the seed's PUBLIC_VIP); the API VIP if unset."""
    services: list[str] = Field(default_factory=lambda: ["keystone"], min_length=1,
                                examples=[["keystone", "glance-api"]])
    """The services to deploy (ha_components.catalog)."""
    resource_agents: Literal["systemd", "ocf-openstack"] = "systemd"
    """Pacemaker resources as systemd units (today's packages) or the seed's ocf:openstack agents."""
    keystone_processes: int | None = Field(default=None, ge=1, le=64)
    """keystone's uwsgi processes per controller (active/active only); default: `workers`."""
    workers: int | None = Field(default=None, ge=1, le=64)
    """Processes of each service on each node (uwsgi processes, conductor/scheduler/engine/RPC
    workers); default: the packages' (8 to 16 uwsgi processes per API, one worker per CPU)."""
    metadata_secret: Password | None = None
    """Shared by nova's metadata API and neutron's metadata agent, a Pulumi secret; needed
    when both are deployed."""
    provider_interface: IfName | None = Field(default=None, examples=["eth2"])
    """The interface of neutron's flat provider network `provider` on every node running the
    Linux bridge agent; none: tenant (VXLAN) networks only."""
    admin_password: Password
    """Keystone admin password, a Pulumi secret (one line)."""
    service_passwords: dict[Name, Password] = {}
    """One secret per project: its database user's and its keystone service user's password."""
    settings: dict[Name, dict[IniKey, dict[IniKey, Text]]] = Field(
        default={}, examples=[{"glance": {"glance_store": {"default_store": "file"}}}])
    """Extra options per project, section and option, written last into the project's config
    fragment (e.g. glance's image store). Not for secrets: the values are plain config, one line
    each; oslo.config expands `$option` in them (`$$` is a literal `$`)."""

    @field_validator("services")
    @classmethod
    def _known(cls, services: list[str]) -> list[str]:
        retired = [f"{s} ({RETIRED[s]})" for s in services if s in RETIRED]
        if retired:
            raise ValueError(f"no longer part of OpenStack: {', '.join(retired)}")
        unknown = [s for s in services if s not in SERVICES]
        if unknown:
            raise ValueError(f"unknown service(s) {unknown}; known: {sorted(SERVICES)}")
        if len(set(services)) != len(services):
            raise ValueError("a service is listed twice")
        return services


class DrbdDatabaseSpec(StrictModel):
    """The seed's MySQL on DRBD behind a VIP (active/passive)."""

    vip: Name
    """The VIP MySQL binds (a name from vips)."""
    volume: Name
    """The DRBD volume holding the data directory (a name from drbd)."""
    root_password: Password
    """MariaDB root password, a Pulumi secret."""


class DrbdMessagingSpec(StrictModel):
    """The seed's RabbitMQ on DRBD behind a VIP (active/passive)."""

    vip: Name
    """The VIP RabbitMQ binds (a name from vips)."""
    volume: Name
    """The DRBD volume holding /var/lib/rabbitmq (a name from drbd)."""
    erlang_cookie: SecretStr
    """The Erlang cookie, a Pulumi secret."""
    user: UserName = "openstack"
    """The RabbitMQ user the OpenStack services use."""
    password: Password
    """Its password, a Pulumi secret."""
