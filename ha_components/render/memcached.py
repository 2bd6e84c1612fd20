"""memcached on every controller, and the per-node files of the active/active API services."""
from __future__ import annotations

from ..models.haproxy import MemcachedSpec
from . import render_template

CONFIG_PATH = "/etc/memcached.conf"
KEYSTONE_DEFAULTS = "/etc/default/keystone"


def memcached_conf(spec: MemcachedSpec, address: str) -> str:
    return render_template("memcached.conf.j2", memory_mb=spec.memory_mb, port=spec.port,
                           address=address, max_connections=spec.max_connections)


def memcached_servers(spec: MemcachedSpec, addresses: list[str]) -> list[str]:
    return [f"{a}:{spec.port}" for a in addresses]


def keystone_defaults(address: str, port: int = 5000, processes: int | None = None) -> str:
    # After --ini, so that it overrides the ini file's `processes = 8`.
    args = f"--http-socket {address}:{port} --ini /etc/keystone/keystone-uwsgi.ini"
    return render_template("keystone-default.j2", daemon_args=args + (f" --processes {processes}" if processes else ""))
