"""HAProxy in front of every API and the database (seed chapter 3), and memcached.

`frontend_plan` resolves listeners to addresses (pure data); the pre-flight checks
and the haproxy.cfg renderer both read it, so they never disagree.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from ..catalog import SERVICES
from .base import Name, StrictModel, is_placeholder
from .galera import config_safe


class Listener(StrictModel):
    """One `listen` section: VIP:port balanced over the backends' node addresses."""

    name: Name = Field(examples=["horizon_ws"])
    """Section name (unique among all listeners)."""
    port: int = Field(ge=1, le=65535)
    """Port HAProxy binds on the VIP."""
    backend_port: int | None = Field(default=None, ge=1, le=65535)
    """Port the backends listen on; default: port."""
    bind_address: IPv4Address | None = None
    """Address HAProxy binds; default: the HAProxy VIP."""
    backends: list[Name] | None = None
    """Hosts serving this listener; default: haproxy.backends."""
    http_check: bool = True
    """`option httpchk GET /` (else a TCP connect check)."""
    check_port: int | None = Field(default=None, ge=1, le=65535)
    """Port of the health check, when not the backend port."""
    single_writer: bool = False
    """The first backend serves, the others are `backup` (Galera's single writer)."""
    balance: Literal["source", "roundrobin", "leastconn"] = "source"
    """HAProxy balance algorithm."""
    tcpka: bool = True
    """`option tcpka`: TCP keepalives on both sides."""
    timeout: str | None = Field(default=None, pattern=r"^[0-9]+(ms|s|m|h)$", examples=["90m"])
    """Client and server timeout of this section; default: the global one."""


# The seed's listen sections. Today's keystone has no admin port: 35357 goes to 5000.
# glance-registry is gone from current OpenStack: listed only when asked for.
SEED_LISTENERS: dict[str, Listener] = {item.name: item for item in [
    Listener(name="dashboard", port=443),
    Listener(name="galera", port=3306, single_writer=True, tcpka=True, timeout="90m"),
    Listener(name="glance_api", port=9292),
    Listener(name="glance_registry", port=9191, http_check=False),
    Listener(name="keystone_admin", port=35357, backend_port=5000),
    Listener(name="keystone_public", port=5000),
    Listener(name="nova_ec2_api", port=8773, http_check=False),
    Listener(name="nova_compute_api", port=8774),
    Listener(name="nova_metadata_api", port=8775, http_check=False),
    Listener(name="cinder_api", port=8776),
    Listener(name="ceilometer_api", port=8777),
    Listener(name="spice", port=6082, http_check=False),
    Listener(name="neutron_api", port=9696),
    Listener(name="swift_proxy", port=8080, http_check=False),
    # Beyond the seed: today's nova needs placement; heat's API came after 2013.
    Listener(name="placement_api", port=8778),
    Listener(name="heat_api", port=8004),
]}
def default_listeners(services: list[str], galera: bool) -> list[str]:
    """Galera (when the stack runs it) and the listeners of the services the stack deploys:
    a listener with no backend would only ever show DOWN."""
    names = ["galera"] if galera else []
    for service in services:
        names += [n for n in SERVICES[service].listeners if n not in names]
    return names


# The listeners of the catalog's public endpoints: with haproxy.tls each gets a TLS twin on
# the public VIP (same port, same servers); keystone_admin, galera and the rest stay internal.
PUBLIC_LISTENERS = ("keystone_public", "glance_api", "placement_api", "nova_compute_api", "cinder_api",
                    "neutron_api", "heat_api")

_PEM_CERTS = re.compile(r"\s*(-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*)+")
_PEM_KEY = re.compile(r"\s*-----BEGIN ((RSA|EC) )?PRIVATE KEY-----\r?\n[A-Za-z0-9+/=\r\n]+"
                      r"-----END ((RSA|EC) )?PRIVATE KEY-----\s*")


def _pem_certificates(text: str) -> str:
    if not _PEM_CERTS.fullmatch(text):
        raise ValueError("must be one or more PEM certificates (-----BEGIN CERTIFICATE----- ...) and nothing else")
    return text.strip() + "\n"


class ServerCheck(StrictModel):
    """HAProxy's health check timing on every `server` line of a listener.

    A server that stops answering (a powered-off node: no RST, each check waits its connect
    timeout, min(timeout connect, inter)) is marked DOWN after about
    inter + fall x (inter + fastinter); one that accepts but does not answer after about
    fall x (timeout + fastinter). Until then HAProxy keeps sending it clients."""

    inter_ms: int = Field(default=1000, ge=100, le=60000)
    """Time between checks of a server that is UP (and the checks' connect timeout)."""
    fastinter_ms: int = Field(default=500, ge=50, le=60000)
    """Time between checks once one failed, until it is DOWN or UP again; at most inter_ms."""
    downinter_ms: int = Field(default=2000, ge=100, le=600000)
    """Time between checks of a server that is DOWN."""
    fall: int = Field(default=3, ge=1, le=100)
    """Failed checks in a row that mark a server DOWN. 1 marks it DOWN on one lost check: a
    single dropped packet then moves every client."""
    rise: int = Field(default=2, ge=1, le=100)
    """Passed checks in a row that mark a server UP again."""
    timeout_ms: int = Field(default=2000, ge=100, le=60000)
    """How long a connected check waits for its answer (the listener's `timeout check`). The
    seed's 10 s kept a service that accepts but does not answer - restarting behind its open
    socket - in rotation for fall x 10 s: 25 s of hung keystone requests on the lab (issue 17)."""


class TlsSpec(StrictModel):
    """TLS at the VIP: HAProxy terminates TLS for the catalog's public endpoints on a VIP of its
    own; the internal and admin endpoints stay plain HTTP on haproxy.vip (management network)."""

    public_vip: Name = Field(examples=["public"])
    """The VIP (vips[].name, not haproxy.vip) the public TLS listeners bind; it follows HAProxy."""
    certificate: str = Field(examples=["-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"])
    """The server certificate (PEM) for the public host name or address, then any intermediates."""
    key: SecretStr
    """The certificate's private key (PEM, unencrypted), a Pulumi secret; 0600 root on the nodes."""
    ca_certificate: str | None = None
    """The CA that clients verify the certificate with (PEM): the stack output `ca_certificate`."""

    @field_validator("certificate", "ca_certificate")
    @classmethod
    def _certs(cls, value: str | None) -> str | None:
        return None if value is None else _pem_certificates(value)

    @field_validator("key")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        if not is_placeholder(value) and not _PEM_KEY.fullmatch(value.get_secret_value()):
            raise ValueError("must be one unencrypted PEM private key (-----BEGIN PRIVATE KEY----- ...)")
        return value


class HaproxySpec(StrictModel):
    """HAProxy cloned by Pacemaker on `nodes`, behind `vip` (IPaddr2 colocated with the clone)."""

    nodes: list[Name] = Field(min_length=2, examples=[["ctl1", "ctl2", "ctl3"]])
    """Pacemaker nodes running the HAProxy clone."""
    vip: Name = Field(examples=["api"])
    """The VIP HAProxy's listeners bind (colocated with the clone)."""
    backends: list[Name] | None = None
    """Hosts running the API services; default: every Pacemaker node (the controllers)."""
    listeners: list[str] | None = Field(default=None, examples=[["galera", "keystone_public", "glance_api"]])
    """The seed's listen sections by name; default: galera and the listeners of openstack.services."""
    custom_listeners: list[Listener] = []
    """Listen sections beyond the seed's."""
    link: int = Field(default=0, ge=0, description="host address backends and stats use (mgmt side)")
    stats_port: int = Field(default=8404, ge=1, le=65535)
    """Port of the stats page on every HAProxy node's own address."""
    stats_user: str = Field(default="admin", pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,31}$")
    """User of the stats page."""
    stats_password: SecretStr
    """Password of the stats page, a Pulumi secret."""
    maxconn: int = Field(default=4000, ge=100)
    """HAProxy's global maxconn."""
    check: ServerCheck = ServerCheck()
    """Health check timing of every listener's servers (default: a check every 1 s, every 0.5 s
    once one failed, DOWN after 3 failures, UP after 2 passes; DOWN ~5 s after a power-off)."""
    galera_check: ServerCheck | None = None
    """Health check timing of the Galera listener's servers, when it should differ from `check`:
    how long writes go to a dead writer before HAProxy sends them to the next node."""
    tls: TlsSpec | None = None
    """TLS for the public endpoints (https://) on their own VIP; unset: every endpoint plain HTTP."""

    @field_validator("listeners")
    @classmethod
    def _known(cls, names: list[str] | None) -> list[str] | None:
        if names is None:
            return None
        unknown = [n for n in names if n not in SEED_LISTENERS]
        if unknown:
            raise ValueError(f"unknown listener(s) {unknown}; known: {sorted(SEED_LISTENERS)} "
                             "(others go in custom_listeners)")
        return names

    @field_validator("stats_password")
    @classmethod
    def _stats_password(cls, value: SecretStr) -> SecretStr:
        return config_safe(value)


class MemcachedSpec(StrictModel):
    """memcached on every controller; every service lists all of them (memcached_servers)."""

    port: int = Field(default=11211, ge=1, le=65535)
    """memcached's port on every controller."""
    memory_mb: int = Field(default=1024, ge=64)
    """Cache size per controller (-m)."""
    max_connections: int = Field(default=4096, ge=64)
    """Connection limit per controller (-c)."""
    link: int = Field(default=0, ge=0)
    """Host address (cluster link) memcached binds to."""


@dataclass(frozen=True)
class Server:
    """A listener's backend server (a `backup` one takes traffic only when the others are down)."""

    host: str
    address: str
    port: int
    backup: bool = False


@dataclass(frozen=True)
class PlannedListener:
    name: str
    loc: tuple[str | int, ...]  # the stack field that declared it, for error messages
    bind: tuple[str, int]
    servers: tuple[Server, ...]
    spec: Listener
    check_port: int | None
    tls: bool = False  # a public listener: TLS terminated here (haproxy.tls), HTTP to the servers


__all__ = ["HaproxySpec", "Listener", "MemcachedSpec", "PUBLIC_LISTENERS", "PlannedListener",
           "SEED_LISTENERS", "Server", "ServerCheck", "TlsSpec", "default_listeners"]
