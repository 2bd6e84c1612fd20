"""Hosts, networks and virtual IPs: what every component refers to by name."""
from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr, WithJsonSchema, field_validator, model_validator

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
_KEY_SCHEMA = {"type": "string", "pattern": r"^(" + "|".join(HOST_KEY_TYPES) + r") [A-Za-z0-9+/]+=*( .*)?$"}
# One key as a string or a list of keys (the stack file allows both; the model keeps a list).
HostKeys = Annotated[list[HostKey], WithJsonSchema({"anyOf": [_KEY_SCHEMA, {"type": "array", "items": _KEY_SCHEMA}]})]


def fingerprint(blob: str) -> str:
    """OpenSSH's SHA256 fingerprint of a base64 key blob (what `ssh-keygen -lf` prints)."""
    digest = hashlib.sha256(base64.b64decode(blob)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class SshEndpoint(StrictModel):
    """How Pulumi reaches a host (the management side, not the cluster network)."""

    host: HostName = Field(examples=["10.77.1.11"])
    """Address or name Pulumi connects to over SSH (never starting with "-": an ssh argument)."""
    port: int = Field(default=22, ge=1, le=65535)
    """SSH port."""
    user: UserName = "root"
    """SSH user: root, or a user with password-less sudo and `become: sudo`."""
    become: Literal["sudo"] | None = None
    """How a user other than root runs every command as root: `sudo` (non-interactive,
    `sudo -n`: the user needs NOPASSWD sudo). Unset for root."""
    private_key_path: str | None = Field(default=None, examples=["~/.ssh/id_ed25519"])
    """Path of the SSH private key on the machine running Pulumi; or set private_key."""
    private_key: SecretStr | None = None
    """The SSH private key itself, a Pulumi secret; or set private_key_path."""
    host_key: HostKeys = Field(default=[], examples=[["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA..."]])
    """The host's SSH public key(s) (`type AAAA...`), verified out of band (`python -m
    ha_components host-keys`); required unless insecure_skip_host_key. pulumi-command pins the
    first ed25519 key (then ECDSA, then RSA)."""
    insecure_skip_host_key: bool = False
    """Connect without checking the host key (anyone answering gets the secrets); needs a reason."""
    insecure_skip_host_key_reason: Text | None = None
    """Why this host's key is not pinned."""

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
    nic: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:@-]{1,15}$", examples=["eth0"])
    """Interface carrying the VIP; IPaddr2 finds it from the subnet when unset."""


def vip_interface(vip: Vip, networks: list[Network]) -> IPv4Interface:
    """The VIP with the prefix of the declared subnet that contains it."""
    for net in networks:
        if vip.address in net.cidr:
            return IPv4Interface(f"{vip.address}/{net.cidr.prefixlen}")
    raise ValueError(f"VIP {vip.address} is in no declared network")


__all__ = ["AbsPath", "HOST_KEY_TYPES", "Host", "fingerprint", "parse_host_key", "Network", "SshEndpoint", "Vip", "vip_interface"]
