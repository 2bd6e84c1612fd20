"""memcached on every controller."""
from __future__ import annotations

from ..models.haproxy import MemcachedSpec
from . import render_template

CONFIG_PATH = "/etc/memcached.conf"


def memcached_conf(spec: MemcachedSpec, address: str) -> str:
    return render_template("memcached.conf.j2", memory_mb=spec.memory_mb, port=spec.port,
                           address=address, max_connections=spec.max_connections)


def memcached_servers(spec: MemcachedSpec, addresses: list[str]) -> list[str]:
    return [f"{a}:{spec.port}" for a in addresses]
