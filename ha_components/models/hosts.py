"""Hosts, networks and virtual IPs: what every component refers to by name."""
from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator

from .base import AbsPath, HostName, Name, StrictModel, Text, UserName

# Host key types in the order pulumi-command pins one (it takes a single key and offers only
# its type): ed25519 first; ssh-rsa last, as OpenSSH >= 8.8 no longer signs with SHA-1 "ssh-rsa".
HOST_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                  "ssh-rsa")


def parse_host_key(line: str) -> tuple[str, str]:
    """(type, base64 blob) of one `type AAAA... [comment]` public key; the blob must name its type."""
    parts = line.split()
    if len(parts) < 2 or parts[0] not in HOST_KEY_TYPES:
        raise ValueError(f"not a public key `<type> AAAA...` with type one of {', '.join(HOST_KEY_TYPES)}")
    try:
        blob = base64.b64decode(parts[1], validate=True)
        (size,) = struct.unpack(">I", blob[:4])
        inner = blob[4:4 + size].decode()
    except (binascii.Error, struct.error, UnicodeDecodeError, ValueError):
        raise ValueError(f"{parts[0]} key: the key data is not an SSH public key blob") from None
    if inner != parts[0]:
        raise ValueError(f"key data is a {inner!r} key, the line says {parts[0]!r}")
    return parts[0], parts[1]


# One key, normalized to `type blob` (a comment is dropped).
HostKey = Annotated[str, AfterValidator(lambda line: " ".join(parse_host_key(line)))]


def fingerprint(blob: str) -> str:
    """OpenSSH's SHA256 fingerprint of a base64 key blob (what `ssh-keygen -lf` prints)."""
    digest = hashlib.sha256(base64.b64decode(blob)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class SshEndpoint(StrictModel):
    """How Pulumi reaches a host (the management side, not the cluster network)."""

    host: HostName  # never starts with "-": it is an argument of ssh
    port: int = Field(default=22, ge=1, le=65535)
    user: UserName = "root"
    private_key_path: str | None = None
    private_key: SecretStr | None = None
    # The host's SSH public key(s) as `ssh-keyscan` prints them without the host name, verified
    # out of band (`python -m ha_components host-keys`). Required, unless skipping is a
    # written-down decision: insecure_skip_host_key with insecure_skip_host_key_reason.
    host_key: list[HostKey] = []
    insecure_skip_host_key: bool = False
    insecure_skip_host_key_reason: Text | None = None

    @field_validator("host_key", mode="before")
    @classmethod
    def _key_list(cls, value: object) -> object:
        if isinstance(value, str):  # one key: checked here, so an error names host_key itself
            parse_host_key(value)
            return [value]
        return value

    @property
    def pinned_host_key(self) -> str | None:
        """The one key pulumi-command checks: the first of the most preferred type."""
        if not self.host_key:
            return None
        return min(self.host_key, key=lambda k: HOST_KEY_TYPES.index(k.split()[0]))

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


__all__ = ["AbsPath", "HOST_KEY_TYPES", "Host", "fingerprint", "parse_host_key", "Network", "SshEndpoint", "Vip", "vip_interface"]
