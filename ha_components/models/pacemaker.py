"""Pacemaker/Corosync cluster settings (seed chapter 1-2, corosync 3 + knet)."""
from __future__ import annotations

import base64
import binascii
import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from .base import IniKey, Name, PackageName, StrictModel, Text, is_placeholder

# corosync's defaults (corosync.conf(5)).
COROSYNC_TOKEN_MS = 3000
COROSYNC_TOKEN_COEFFICIENT_MS = 650

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


# A Pacemaker duration: a number and a unit (ms, s, min), or plain seconds.
DURATION = r"^[0-9]{1,9}(ms|s|min)?$"
_UNIT_MS = {"ms": 1, "s": 1000, "min": 60000, "": 1000}


def duration_ms(value: str) -> int:
    """A Pacemaker duration (`15s`, `500ms`, `2min`, `30`) in milliseconds."""
    number, unit = re.fullmatch(r"([0-9]+)(ms|s|min)?", value).groups()  # type: ignore[union-attr]
    return int(number) * _UNIT_MS[unit or ""]


# Pacemaker's own stonith-timeout when the property is not set.
PACEMAKER_STONITH_TIMEOUT = "60s"


class Fencing(StrictModel):
    """Stonith devices, or the written-down reason to run without."""

    devices: list[FenceDevice] = []
    """Fence devices; together they must cover every node."""
    two_node_delay: str = Field(default="15s", pattern=DURATION)
    """Two-node clusters: each device's `pcmk_delay_max`, a random delay of up to this long before
    a fence, so that after a split both nodes never shoot each other at once. Must be shorter than
    the fence timeout (`timeout`); it adds to every fence of a two-node cluster."""
    timeout: str | None = Field(default=None, pattern=DURATION, examples=["60s"])
    """Pacemaker's `stonith-timeout`: how long a fence action (reboot, off, on) may take before
    the fencer gives up and tries again or another device; default Pacemaker's 60s. Cover the
    slowest BMC's answer (fence_ipmilan: a power-off can take 10-20 s) plus any delay; a fence
    that fails holds every recovery of that node's resources until one succeeds."""
    disabled_reason: str | None = None
    """Why this cluster runs without fencing: a written-down decision, never a silent default."""


class KnetLink(StrictModel):
    """One knet link's settings (corosync.conf `interface { linknumber: N ... }`)."""

    ping_interval_ms: int | None = Field(default=None, ge=50, le=60000, examples=[250])
    """`knet_ping_interval`: time between pings on this link; default token / (pong_count x 2).
    Set it together with ping_timeout_ms."""
    ping_timeout_ms: int | None = Field(default=None, ge=100, le=120000, examples=[1000])
    """`knet_ping_timeout`: no pong for this long and the link is down (with several links knet
    moves the traffic to another); default token / pong_count. More than ping_interval_ms, less
    than the real token, so that a dead link is left before the token is lost."""
    pong_count: int | None = Field(default=None, ge=1, le=10, examples=[2])
    """`knet_pong_count`: pongs in a row before a link is up again; default 2."""
    priority: int | None = Field(default=None, ge=0, le=255, examples=[255])
    """`knet_link_priority`: with link_mode passive the live link of the highest priority carries
    the traffic."""


class ResourcePolicy(StrictModel):
    """Monitoring and recovery of the stack's resources (not the fence devices)."""

    vip_monitor_interval: str = Field(default="30s", pattern=DURATION, examples=["10s"])
    """Monitor interval of every VIP (IPaddr2): how soon a VIP removed from its interface is
    noticed and started again. A dead node is noticed by corosync, not by this monitor."""
    vip_monitor_timeout: str = Field(default="60s", pattern=DURATION)
    """Timeout of the VIP's monitor (Pacemaker's 20 s default timed out on a loaded node and
    restarted the group)."""
    vip_start_stop_timeout: str | None = Field(default=None, pattern=DURATION, examples=["60s"])
    """Timeout of the VIP's start and stop; default Pacemaker's 20 s. A start that times out bans
    the VIP (and its group) from that node until a cleanup: on the kernel tier's emulated CPUs a
    loaded guest took longer than 20 s."""
    on_fail: Literal["restart", "ignore", "block", "stop", "standby", "fence"] | None = None
    """`on-fail` of every monitor: what a failed monitor does (restart where it runs; fence its
    node; standby moves everything off the node; block leaves it for an operator); default
    Pacemaker's restart."""
    migration_threshold: int | None = Field(default=None, ge=1, le=1000000, examples=[3])
    """`migration-threshold`: after this many failures on a node the resource moves away from it
    (until failure_timeout or a cleanup); default Pacemaker's INFINITY (restarted in place forever)."""
    failure_timeout: str | None = Field(default=None, pattern=DURATION, examples=["10min"])
    """`failure-timeout`: failures older than this are forgotten (checked every
    cluster-recheck-interval), so a node the threshold banned can take the resource again."""


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
    token_ms: int | None = Field(default=None, ge=500, le=120000, examples=[10000])
    """corosync's totem `token`: how long without the token before a node is declared lost
    (then consensus, then the fence); default corosync's 3000. corosync adds token_coefficient_ms
    per node above two (3000 + 650 = 3650 ms on three nodes). Shorter detects a dead node sooner;
    too short fences healthy nodes that stall (a congested link, an overcommitted or emulated
    VM, a long pause): keep it well above the longest stall the hosts show (docs/active-active.md,
    "Failover timing")."""
    token_coefficient_ms: int | None = Field(default=None, ge=0, le=10000, examples=[650])
    """corosync's `token_coefficient`, added to the token per node above two; default corosync's
    650; 0 turns it off."""
    consensus_ms: int | None = Field(default=None, ge=600, le=240000, examples=[2400])
    """corosync's `consensus`: how long to wait for agreement on the new membership after a token
    loss; at least 1.2 x the real token (token + coefficient per node above two), default exactly
    that."""
    link_mode: Literal["passive", "active", "rr"] = "passive"
    """knet's `link_mode` with several links (hosts[].addresses): passive sends on the link of
    the highest priority (links[].priority) and moves to the next when it fails; active and rr
    use every live link at once."""
    links: list[KnetLink] = Field(default=[], max_length=8)
    """Per knet link (links[0] is link 0: every host's addresses[0]), its ping timing and priority;
    unset: corosync's defaults, derived from the token."""
    resources: ResourcePolicy = ResourcePolicy()
    """How Pacemaker watches and recovers the resources the stack adds (VIPs, HAProxy, services)."""
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
        timing = {"stonith-timeout": self.fencing.timeout} if self.fencing.timeout else {}
        return {**SEED_PROPERTIES, "no-quorum-policy": self.no_quorum_policy, **timing, **self.properties}

    @property
    def base_token_ms(self) -> int:
        return self.token_ms if self.token_ms is not None else COROSYNC_TOKEN_MS

    @property
    def per_node_token_ms(self) -> int:
        return self.token_coefficient_ms if self.token_coefficient_ms is not None else COROSYNC_TOKEN_COEFFICIENT_MS

    @property
    def real_token_ms(self) -> int:
        """The token corosync uses: token + token_coefficient per node above two (corosync.conf(5))."""
        return self.base_token_ms + self.per_node_token_ms * max(0, len(self.nodes) - 2)

    @property
    def real_token_formula(self) -> str:
        """How real_token_ms comes about, for messages: "token 3000 + 1 x token_coefficient 650 = 3650 ms"."""
        extra = len(self.nodes) - 2
        per_node = f" + {extra} x token_coefficient {self.per_node_token_ms}" if extra > 0 else ""
        return f"token {self.base_token_ms}{per_node} = {self.real_token_ms} ms"

    @property
    def real_consensus_ms(self) -> int:
        return self.consensus_ms if self.consensus_ms is not None else int(self.real_token_ms * 1.2)
