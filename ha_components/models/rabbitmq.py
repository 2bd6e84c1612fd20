"""The RabbitMQ cluster (seed chapter 3) with quorum queues by default."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from .base import Name, StrictModel, is_placeholder

class RabbitUser(StrictModel):
    """A RabbitMQ user with its vhost permissions."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$", examples=["openstack"])
    """User name."""
    password: SecretStr
    """Its password, a Pulumi secret."""
    vhost: str = Field(default="/", pattern=r"^/[A-Za-z0-9_.-]{0,63}$|^[A-Za-z0-9_.-]{1,64}$")
    """The vhost it gets permissions on (created if missing)."""
    configure: str = ".*"
    """Configure permission (a regular expression over resource names)."""
    write: str = ".*"
    """Write permission (a regular expression)."""
    read: str = ".*"
    """Read permission (a regular expression)."""
    tags: list[Literal["administrator", "monitoring", "management", "policymaker"]] = []
    """Management plugin tags."""

    @field_validator("password")
    @classmethod
    def _one_line(cls, value: SecretStr) -> SecretStr:
        if not is_placeholder(value) and ("\n" in value.get_secret_value() or not value.get_secret_value()):
            raise ValueError("must be one non-empty line")
        return value


class RabbitSpec(StrictModel):
    """rabbitmq-server on every node of `nodes`, clustered by classic_config peer discovery."""

    nodes: list[Name] = Field(min_length=1, examples=[["ctl1", "ctl2", "ctl3"]])
    """Hosts running rabbitmq-server; use an odd count."""
    erlang_cookie: SecretStr
    """The shared Erlang cookie (20-255 letters and digits), a Pulumi secret."""
    users: list[RabbitUser] = Field(min_length=1)
    """Users to create; the first is the one OpenStack services use (transport_url)."""
    queue_ha: Literal["quorum", "classic-mirrored"] = "quorum"
    """Quorum queues (Raft) are today's replicated queues; the seed's classic mirrored queues
    (`ha-mode: all` policy) exist only before RabbitMQ 4.0 and only when asked for."""
    partition_handling: Literal["pause_minority", "autoheal"] = "pause_minority"
    """cluster_partition_handling."""
    development: bool = False
    """Allow a single node (development only)."""
    even_nodes_reason: str | None = None
    """Why an even node count is acceptable: it pauses both halves of an even split."""
    link: int = Field(default=0, ge=0, description="host address (cluster link) the broker binds to")
    port: int = Field(default=5672, ge=1, le=65535)
    """AMQP port."""
    dist_port: int = Field(default=25672, ge=1, le=65535)
    """Erlang distribution (clustering) port."""
    timeout_seconds: int = Field(default=600, ge=30)
    """How long `pulumi up` waits for a node to start and join."""

    @field_validator("erlang_cookie")
    @classmethod
    def _cookie(cls, value: SecretStr) -> SecretStr:
        if is_placeholder(value):
            return value
        text = value.get_secret_value()
        if not (20 <= len(text) <= 255) or not text.isalnum():
            raise ValueError("must be 20 to 255 letters and digits (e.g. `openssl rand -hex 32`)")
        return value

    @property
    def node_names(self) -> list[str]:
        """Erlang node names (rabbit@<host>); hosts resolve each other via /etc/hosts."""
        return [f"rabbit@{n}" for n in self.nodes]
