"""MariaDB Galera (seed chapter 3: the active/active database)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from .base import Name, StrictModel, Text, is_placeholder

# Characters an option-file or haproxy.cfg word cannot carry unquoted, or that a shell or
# HAProxy would expand: refused in passwords that end up in such files.
UNSAFE_IN_CONFIG = set(" \t\r\n\"'\\#$`;")


def config_safe(value: SecretStr) -> SecretStr:
    """A password written into a config file (not SQL): no quoting needed, nothing expanded."""
    if is_placeholder(value):
        return value
    text = value.get_secret_value()
    if not text:
        raise ValueError("must not be empty")
    bad = sorted(set(text) & UNSAFE_IN_CONFIG)
    if bad:
        raise ValueError(f"must not contain whitespace, quotes, backslash, '#', '$', '`' or ';' "
                         f"({len(bad)} such character(s) found)")
    return value


class GaleraSpec(StrictModel):
    """MariaDB with galera-4 on every node of `nodes`; bootstrap is `nodes[0]`."""

    cluster_name: str = Field(default="openstack", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    """wsrep_cluster_name."""
    nodes: list[Name] = Field(min_length=1, examples=[["ctl1", "ctl2", "ctl3"]])
    """Hosts running MariaDB + galera-4; the first bootstraps the cluster. Use an odd count."""
    # An even count cannot keep a majority when split in half. Opt-ins, never defaults:
    arbitrator: Name | None = None
    """A host running garbd (galera-arbitrator-4): one more vote for an even node count."""
    development: bool = False
    """Allow a single node: no replication at all (development only)."""
    link: int = Field(default=0, ge=0, description="host address (cluster link) Galera binds to")
    port: int = Field(default=3306, ge=1, le=65535)
    """MariaDB's client port on every node."""
    health_port: int = Field(default=9200, ge=1, le=65535)
    """HTTP health check answering 200 only when the node is Synced, for HAProxy's `check port`."""
    sst_method: Literal["mariabackup", "rsync"] = "mariabackup"
    """State snapshot transfer method for a joining node."""
    sst_user: str = Field(default="wsrep_sst", pattern=r"^[a-z][a-z0-9_]{0,31}$")
    """Database user the SST runs as."""
    sst_password: SecretStr
    """Password of the SST user, a Pulumi secret."""
    max_connections: int = Field(default=4096, ge=10)
    """MariaDB max_connections."""
    options: dict[str, Text] = Field(default={}, examples=[{"innodb_buffer_pool_size": "2G"}])
    """Extra [mysqld] options (one line each); they cannot override the seed's Galera settings or wsrep_*."""
    timeout_seconds: int = Field(default=600, ge=30)
    """How long `pulumi up` waits for a node to start and sync."""
    suspect_timeout_ms: int | None = Field(default=None, ge=1000, le=14000, examples=[2000])
    """Galera's `evs.suspect_timeout` (wsrep_provider_options): a member silent this long is
    evicted once the others agree; until then every commit waits for it, so a dead node stops
    all writes this long whatever HAProxy does. Default Galera's 5 s; at most 14 s (below
    `evs.inactive_timeout`, 15 s). Too short evicts a node that stalls (it rejoins with IST)."""

    @field_validator("sst_password")
    @classmethod
    def _sst_password(cls, value: SecretStr) -> SecretStr:
        return config_safe(value)

    @field_validator("options")
    @classmethod
    def _options(cls, options: dict[str, str]) -> dict[str, str]:
        for key, value in options.items():
            if not key.replace("_", "").replace("-", "").isalnum() or "\n" in value:
                raise ValueError(f"option {key!r}: one `name = value` line per option")
            if key.replace("-", "_") in SEED_OPTIONS or key.startswith("wsrep"):
                raise ValueError(f"option {key!r} is set by the component (the seed's Galera settings)")
        return options


# The seed's settings for Galera (query cache off, row-based binlog, InnoDB only).
SEED_OPTIONS: dict[str, str] = {
    "binlog_format": "ROW",
    "default_storage_engine": "InnoDB",
    "innodb_autoinc_lock_mode": "2",
    "innodb_doublewrite": "1",
    "query_cache_size": "0",
    "query_cache_type": "0",
}
