"""Pacemaker/Corosync cluster settings (seed chapter 1-2, corosync 3 + knet)."""
from __future__ import annotations

import base64
import binascii
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from .base import IniKey, Name, PackageName, StrictModel, Text, is_placeholder

# The seed's properties: keep policy-engine history long, recheck every 5 minutes.
SEED_PROPERTIES: dict[str, str] = {
    "pe-warn-series-max": "1000",
    "pe-input-series-max": "1000",
    "pe-error-series-max": "1000",
    "cluster-recheck-interval": "5min",
}


class FenceDevice(StrictModel):
    """One stonith primitive: a fence agent and the nodes it can fence."""

    name: Name = Field(examples=["ipmi-ctl1"])
    """Stonith resource name."""
    agent: str = Field(pattern=r"^fence_[a-z0-9_]+$", examples=["fence_ipmilan"])
    """The fence agent (fence-agents package)."""
    targets: list[Name] = Field(min_length=1)
    """Cluster nodes this device can fence."""
    params: dict[IniKey, Text] = Field(default={}, examples=[{"ip": "10.0.9.11", "username": "admin"}])
    """Plain agent parameters (one line each)."""
    secret_params: dict[str, SecretStr] = {}
    """Parameters such as a BMC password: Pulumi secrets, kept out of command lines."""


class Fencing(StrictModel):
    """Stonith devices, or the written-down reason to run without."""

    devices: list[FenceDevice] = []
    """Fence devices; together they must cover every node."""
    two_node_delay: str = Field(default="15s", pattern=r"^[0-9]+(ms|s|min)?$")
    """Two-node clusters: a random delay before fencing so both nodes never shoot each other."""
    disabled_reason: str | None = None
    """Why this cluster runs without fencing: a written-down decision, never a silent default."""


class PacemakerSpec(StrictModel):
    """The Corosync/Pacemaker cluster every other part runs in."""

    cluster_name: str = Field(default="openstack", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    """Corosync cluster name."""
    nodes: list[Name] = Field(min_length=2, examples=[["ctl1", "ctl2", "ctl3"]])
    """Hosts in the cluster (names from hosts)."""
    authkey: SecretStr
    """base64 of the corosync authkey (128-512 bytes, e.g. `corosync-keygen -l`), a Pulumi secret."""
    crypto_cipher: Literal["aes256", "aes192", "aes128", "none"] = "aes256"
    """knet crypto_cipher."""
    crypto_hash: Literal["sha256", "sha384", "sha512", "sha1", "none"] = "sha256"
    """knet crypto_hash."""
    no_quorum_policy: Literal["stop", "freeze", "ignore", "demote", "suicide"] = "stop"
    """Pacemaker's no-quorum-policy ('ignore' only for 2-node clusters)."""
    token_ms: int | None = Field(default=None, ge=1000, le=120000, examples=[10000])
    """corosync's totem token timeout; default corosync's own (3000 ms + 650 ms per node above
    two). Raise it where hosts can stall for seconds (emulated or overcommitted VMs), or a
    stalled node is declared lost and fenced."""
    properties: dict[IniKey, Text] = Field(default={}, examples=[{"cluster-recheck-interval": "2min"}])
    """Extra cluster properties, over the seed's (pe-*-series-max, cluster-recheck-interval)."""
    fencing: Fencing = Fencing()
    """Fencing devices (required for real clusters)."""
    packages: list[PackageName] = [
        "corosync", "pacemaker", "pacemaker-cli-utils", "crmsh",
        "resource-agents", "fence-agents", "python3",
    ]
    """Debian packages installed on every node."""

    @field_validator("authkey")
    @classmethod
    def _authkey_size(cls, value: SecretStr) -> SecretStr:
        if is_placeholder(value):
            return value
        try:
            raw = base64.b64decode(value.get_secret_value(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("must be base64 (e.g. base64 -w0 /etc/corosync/authkey)") from None
        if not 128 <= len(raw) <= 512:
            raise ValueError(f"decodes to {len(raw)} bytes; knet needs 128 to 512")
        return value

    @property
    def effective_properties(self) -> dict[str, str]:
        return {**SEED_PROPERTIES, "no-quorum-policy": self.no_quorum_policy, **self.properties}
