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
    nodes: list[Name] = Field(min_length=1)
    # An even count cannot keep a majority when split in half. Opt-ins, never defaults:
    arbitrator: Name | None = None  # a host running garbd (galera-arbitrator-4): one more vote
    development: bool = False  # a single node: no replication at all
    link: int = Field(default=0, ge=0, description="host address (cluster link) Galera binds to")
    port: int = Field(default=3306, ge=1, le=65535)
    # HTTP answering 200 only when the node is Synced, for HAProxy's `check port`.
    health_port: int = Field(default=9200, ge=1, le=65535)
    sst_method: Literal["mariabackup", "rsync"] = "mariabackup"
    sst_user: str = Field(default="wsrep_sst", pattern=r"^[a-z][a-z0-9_]{0,31}$")
    sst_password: SecretStr
    max_connections: int = Field(default=4096, ge=10)
    # Extra [mysqld] options (e.g. innodb_buffer_pool_size: 2G); they cannot unset the seed's.
    options: dict[str, Text] = {}
    timeout_seconds: int = Field(default=600, ge=30)

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
