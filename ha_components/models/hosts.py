"""Hosts, networks and virtual IPs: what every component refers to by name."""
from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from pydantic import Field, SecretStr, model_validator

from .base import AbsPath, HostName, Name, StrictModel, UserName


class SshEndpoint(StrictModel):
    """How Pulumi reaches a host (the management side, not the cluster network)."""

    host: HostName  # never starts with "-": it is an argument of ssh
    port: int = Field(default=22, ge=1, le=65535)
    user: UserName = "root"
    private_key_path: str | None = None
    private_key: SecretStr | None = None

    @model_validator(mode="after")
    def _one_key(self) -> "SshEndpoint":
        if (self.private_key_path is None) == (self.private_key is None):
            raise ValueError("set exactly one of private_key_path or private_key (a secret)")
        return self


class Host(StrictModel):
    name: Name
    ssh: SshEndpoint
    # Cluster-network addresses, one per cluster link (the seed's two rings): link 0 first.
    addresses: list[IPv4Address] = Field(min_length=1, max_length=8)


class Network(StrictModel):
    name: Name
    cidr: IPv4Network


class Vip(StrictModel):
    """A floating address managed by Pacemaker (ocf:heartbeat:IPaddr2)."""

    name: Name
    address: IPv4Address
    nic: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:@-]{1,15}$")  # IPaddr2 finds the interface from the subnet when unset


def vip_interface(vip: Vip, networks: list[Network]) -> IPv4Interface:
    """The VIP with the prefix of the declared subnet that contains it."""
    for net in networks:
        if vip.address in net.cidr:
            return IPv4Interface(f"{vip.address}/{net.cidr.prefixlen}")
    raise ValueError(f"VIP {vip.address} is in no declared network")


__all__ = ["AbsPath", "Host", "Network", "SshEndpoint", "Vip", "vip_interface"]
