"""Hosts, networks and virtual IPs: what every component refers to by name."""
from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from pydantic import Field, SecretStr, model_validator

from .base import AbsPath, Name, StrictModel


class SshEndpoint(StrictModel):
    """How Pulumi reaches a host (the management side, not the cluster network)."""

    host: str = Field(min_length=1, examples=["10.77.1.11"])
    """Address or name Pulumi connects to over SSH."""
    port: int = Field(default=22, ge=1, le=65535)
    """SSH port."""
    user: str = Field(default="root", min_length=1)
    """SSH user (root, or one with password-less sudo)."""
    private_key_path: str | None = Field(default=None, examples=["~/.ssh/id_ed25519"])
    """Path of the SSH private key on the machine running Pulumi; or set private_key."""
    private_key: SecretStr | None = None
    """The SSH private key itself, a Pulumi secret; or set private_key_path."""

    @model_validator(mode="after")
    def _one_key(self) -> "SshEndpoint":
        if (self.private_key_path is None) == (self.private_key is None):
            raise ValueError("set exactly one of private_key_path or private_key (a secret)")
        return self


class Host(StrictModel):
    """A machine of the control plane, reached over SSH."""

    name: Name = Field(examples=["ctl1"])
    """Host name: the node name in Pacemaker, Galera and RabbitMQ, and how other keys refer to it."""
    ssh: SshEndpoint
    """How Pulumi reaches the host."""
    addresses: list[IPv4Address] = Field(min_length=1, max_length=8, examples=[["10.77.1.11", "10.77.2.11"]])
    """Cluster-network addresses, one per cluster link (the seed's two rings): link 0 first."""


class Network(StrictModel):
    """A subnet that host addresses and VIPs must lie in."""

    name: Name = Field(examples=["mgmt"])
    """Network name (informational)."""
    cidr: IPv4Network = Field(examples=["10.77.1.0/24"])
    """The subnet, network address and prefix length (host bits zero)."""


class Vip(StrictModel):
    """A floating address managed by Pacemaker (ocf:heartbeat:IPaddr2)."""

    name: Name = Field(examples=["api"])
    """VIP name: other keys (haproxy.vip, openstack.api_vip, database.vip) refer to it."""
    address: IPv4Address = Field(examples=["10.77.1.110"])
    """The floating address; it must lie in a declared network and belong to no host."""
    nic: str | None = Field(default=None, examples=["eth0"])
    """Interface carrying the VIP; IPaddr2 finds it from the subnet when unset."""


def vip_interface(vip: Vip, networks: list[Network]) -> IPv4Interface:
    """The VIP with the prefix of the declared subnet that contains it."""
    for net in networks:
        if vip.address in net.cidr:
            return IPv4Interface(f"{vip.address}/{net.cidr.prefixlen}")
    raise ValueError(f"VIP {vip.address} is in no declared network")


__all__ = ["AbsPath", "Host", "Network", "SshEndpoint", "Vip", "vip_interface"]
