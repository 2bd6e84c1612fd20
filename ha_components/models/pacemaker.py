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

    name: Name
    agent: str = Field(pattern=r"^fence_[a-z0-9_]+$")
    targets: list[Name] = Field(min_length=1)
    params: dict[IniKey, Text] = {}
    # Parameters such as a BMC password: stored as Pulumi secrets, kept out of command lines.
    secret_params: dict[str, SecretStr] = {}


class Fencing(StrictModel):
    devices: list[FenceDevice] = []
    # Two-node clusters: a random delay before fencing so both nodes never shoot each other.
    two_node_delay: str = Field(default="15s", pattern=r"^[0-9]+(ms|s|min)?$")
    # Running without fencing must be a written-down decision, never a silent default.
    disabled_reason: str | None = None


class PacemakerSpec(StrictModel):
    cluster_name: str = Field(default="openstack", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    nodes: list[Name] = Field(min_length=2)
    # base64 of the corosync authkey (128-512 bytes, e.g. `corosync-keygen -l`), a secret.
    authkey: SecretStr
    crypto_cipher: Literal["aes256", "aes192", "aes128", "none"] = "aes256"
    crypto_hash: Literal["sha256", "sha384", "sha512", "sha1", "none"] = "sha256"
    no_quorum_policy: Literal["stop", "freeze", "ignore", "demote", "suicide"] = "stop"
    # corosync's totem token timeout; default corosync's own (3000 ms + 650 ms per node above
    # two). Raise it where hosts can stall for seconds (emulated or overcommitted VMs), or a
    # stalled node is declared lost and fenced.
    token_ms: int | None = Field(default=None, ge=1000, le=120000)
    properties: dict[IniKey, Text] = {}
    fencing: Fencing = Fencing()
    packages: list[PackageName] = [
        "corosync", "pacemaker", "pacemaker-cli-utils", "crmsh",
        "resource-agents", "fence-agents", "python3",
    ]

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
