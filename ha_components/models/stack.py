"""The whole stack file as one validated object, and the pre-flight checks.

Field-level rules live on the models; rules that relate several parts of the
stack (references, duplicates, subnets, fencing) live here so that every error
can name the exact field path, e.g. `pacemaker.nodes[1]`.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any, Iterator, Literal

from pydantic import SecretStr, ValidationError

from ..catalog import projects_of
from .base import Name, StrictModel
from .drbd import DrbdVolumeSpec
from .galera import GaleraSpec
from .haproxy import HaproxySpec, MemcachedSpec
from .hosts import Host, Network, Vip
from .openstack import DrbdDatabaseSpec, DrbdMessagingSpec, OpenStackSpec
from .pacemaker import DURATION, PACEMAKER_STONITH_TIMEOUT, PacemakerSpec, duration_ms
from .rabbitmq import RabbitSpec

Loc = tuple[str | int, ...]


class StackConfig(StrictModel):
    topology: Literal["active-passive", "active-active"]
    """The seed's chapter 2 (Pacemaker, DRBD, VIPs) or chapter 3 (Galera, RabbitMQ cluster, HAProxy)."""
    hosts: list[Host]
    """Every machine, reached over SSH."""
    networks: list[Network]
    """Subnets: host addresses and VIPs must lie in one."""
    vips: list[Vip] = []
    """Virtual IPs managed by Pacemaker (IPaddr2)."""
    pacemaker: PacemakerSpec
    """The cluster, its properties and fencing."""
    drbd: list[DrbdVolumeSpec] = []
    """Replicated volumes (active-passive)."""
    database: DrbdDatabaseSpec | None = None
    """Active-passive MySQL on DRBD behind a VIP."""
    messaging: DrbdMessagingSpec | None = None
    """Active-passive RabbitMQ on DRBD behind a VIP."""
    openstack: OpenStackSpec | None = None
    """The OpenStack services and their endpoints."""
    # Active/active (seed chapter 3): Galera, a RabbitMQ cluster, HAProxy with its VIP, memcached.
    galera: GaleraSpec | None = None
    """Active-active database: MariaDB Galera."""
    rabbitmq: RabbitSpec | None = None
    """Active-active RabbitMQ cluster."""
    haproxy: HaproxySpec | None = None
    """Active-active load balancer in front of Galera and the APIs."""
    memcached: MemcachedSpec | None = None
    """memcached on every controller (active-active)."""
    leaving: list[Name] = []
    """Controllers leaving (active-active): still in `hosts` (reached over SSH), in no role.
    `up` drains them one at a time and takes them out of Pacemaker, Galera and RabbitMQ;
    afterwards remove them from `hosts` and from here (docs/active-active.md, "Shrinking")."""
    large_cluster_reason: str | None = None
    """Why a cluster (Pacemaker, Galera, RabbitMQ) has more than five nodes: larger ones are
    refused without it (slower failure detection and replication; not drilled here)."""

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def vip(self, name: str) -> Vip:
        return next(v for v in self.vips if v.name == name)

    def volume(self, name: str) -> DrbdVolumeSpec:
        return next(v for v in self.drbd if v.name == name)


@dataclass(frozen=True)
class Problem:
    loc: Loc
    message: str

    def __str__(self) -> str:
        return f"{format_loc(self.loc)}: {self.message}"


class StackConfigError(Exception):
    """Every problem found in a stack file, one per line."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_loc(loc: Loc) -> str:
    """`hosts[0].ssh.port`; a key that is not a plain name is quoted: `openstack.settings["a b"]`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:  # JSON quoting: control characters and quotes escaped, one line
            out += f"[{json.dumps(part)}]"
    return out or "<stack>"


def validate_stack(data: dict[str, Any]) -> StackConfig:
    """Validate a stack's config (keys without the project prefix) or raise StackConfigError."""
    try:
        stack = StackConfig.model_validate(data)
    except ValidationError as err:
        raise StackConfigError([_problem(e) for e in err.errors()]) from None
    problems = list(cross_checks(stack))
    if problems:
        raise StackConfigError(problems)
    return stack


def _problem(error: Any) -> Problem:
    loc, message = tuple(error["loc"]), error["msg"].removeprefix("Value error, ")
    if loc and loc[-1] == "[key]":  # pydantic's marker for a bad mapping key: the key is the path
        loc, message = loc[:-1], f"key: {message}"
    return Problem(loc, message)


def _duplicates(values: list[Any]) -> set[Any]:
    return {v for v, n in Counter(values).items() if n > 1}


def _references(names: list[str], known: set[str], loc: Loc, what: str) -> Iterator[Problem]:
    for i, name in enumerate(names):
        if name not in known:
            yield Problem((*loc, i), f"{what} {name!r} is not defined")
    for dup in sorted(_duplicates(names)):
        yield Problem(loc, f"{dup!r} is listed more than once")


def cross_checks(stack: StackConfig) -> Iterator[Problem]:
    yield from _check_hosts(stack)
    yield from _check_vips(stack)
    yield from _check_pacemaker(stack)
    yield from _check_cluster_sizes(stack)
    yield from _check_drbd(stack)
    yield from _check_active_passive(stack)
    yield from _check_active_active(stack)


def _check_hosts(stack: StackConfig) -> Iterator[Problem]:
    dup_names = _duplicates([h.name for h in stack.hosts])
    seen: dict[IPv4Address, str] = {}
    for i, host in enumerate(stack.hosts):
        if host.name in dup_names:
            yield Problem(("hosts", i, "name"), f"duplicate host name {host.name!r}")
        ssh = host.ssh
        if ssh.user == "root" and ssh.become:
            yield Problem(("hosts", i, "ssh", "become"), "the user is root already: remove become")
        elif ssh.user != "root" and not ssh.become:
            yield Problem(("hosts", i, "ssh", "become"),
                          f"user {ssh.user!r} is not root and every command needs root: set "
                          "`become: sudo` (with password-less sudo for that user on the host)")
        if ssh.insecure_skip_host_key:
            if not (ssh.insecure_skip_host_key_reason or "").strip():
                yield Problem(("hosts", i, "ssh", "insecure_skip_host_key_reason"),
                              "skipping host key verification needs the reason written here")
            if ssh.host_key:
                yield Problem(("hosts", i, "ssh", "insecure_skip_host_key"),
                              "host_key is set: pin it or skip, not both")
        elif not ssh.host_key:
            yield Problem(("hosts", i, "ssh", "host_key"),
                          f"no SSH host key for {ssh.host}: anyone answering there would receive the "
                          "stack's secrets. Pin the verified key(s) (python -m ha_components host-keys "
                          "STACKFILE --write), or set insecure_skip_host_key with its reason")
        for j, addr in enumerate(host.addresses):
            loc = ("hosts", i, "addresses", j)
            if addr in seen:
                yield Problem(loc, f"address {addr} is already used by host {seen[addr]!r}")
            seen[addr] = host.name
            if not any(addr in n.cidr for n in stack.networks):
                yield Problem(loc, f"address {addr} is in no declared network")
    for name in sorted(_duplicates([n.name for n in stack.networks])):
        yield Problem(("networks",), f"duplicate network name {name!r}")
    # Overlapping networks make "the network of an address" ambiguous (VIP prefix, binds).
    for i, net in enumerate(stack.networks):
        for j, other in enumerate(stack.networks[:i]):
            if net.cidr.overlaps(other.cidr):
                same = "is the same network as" if net.cidr == other.cidr else "overlaps"
                yield Problem(("networks", i, "cidr"), f"{net.cidr} {same} networks[{j}] "
                              f"({other.name} {other.cidr})")


def _check_vips(stack: StackConfig) -> Iterator[Problem]:
    node_addrs = {a: h.name for h in stack.hosts for a in h.addresses}
    dup_names = _duplicates([v.name for v in stack.vips])
    dup_addrs = _duplicates([v.address for v in stack.vips])
    for i, vip in enumerate(stack.vips):
        if vip.name in dup_names:
            yield Problem(("vips", i, "name"), f"duplicate VIP name {vip.name!r}")
        loc = ("vips", i, "address")
        if vip.address in dup_addrs:
            yield Problem(loc, f"address {vip.address} is used by more than one VIP")
        if vip.address in node_addrs:
            yield Problem(loc, f"address {vip.address} is host {node_addrs[vip.address]!r}'s own")
        nets = [n for n in stack.networks if vip.address in n.cidr]
        if not nets:
            yield Problem(loc, f"address {vip.address} is outside every declared network")
        elif vip.address in (nets[0].cidr.network_address, nets[0].cidr.broadcast_address):
            yield Problem(loc, f"address {vip.address} is the network or broadcast address")


def _check_pacemaker(stack: StackConfig) -> Iterator[Problem]:
    pcmk = stack.pacemaker
    hosts = {h.name for h in stack.hosts}
    yield from _references(pcmk.nodes, hosts, ("pacemaker", "nodes"), "host")
    members = [stack.host(n) for n in pcmk.nodes if n in hosts]
    if len({len(h.addresses) for h in members}) > 1:
        yield Problem(("pacemaker", "nodes"),
                      "every node needs the same number of cluster addresses (one per link)")
    yield from _check_timing(stack)
    fencing = pcmk.fencing
    if len(pcmk.nodes) == 2 and not fencing.devices and not fencing.disabled_reason:
        yield Problem(("pacemaker", "fencing"),
                      "a 2-node cluster needs fencing devices; to run without, set "
                      "fencing.disabled_reason to the reason (not safe for data)")
    if pcmk.no_quorum_policy == "ignore" and len(pcmk.nodes) > 2:
        yield Problem(("pacemaker", "no_quorum_policy"),
                      "'ignore' is only for 2-node clusters (the seed's warning); "
                      "corosync's two_node already covers those")
    for i, dev in enumerate(fencing.devices):
        yield from _references(dev.targets, set(pcmk.nodes),
                               ("pacemaker", "fencing", "devices", i, "targets"), "cluster node")
    for name in sorted(_duplicates([d.name for d in fencing.devices])):
        yield Problem(("pacemaker", "fencing", "devices"), f"duplicate device name {name!r}")
    if fencing.devices:
        covered = {t for d in fencing.devices for t in d.targets}
        for node in pcmk.nodes:
            if node not in covered:
                yield Problem(("pacemaker", "fencing", "devices"),
                              f"no fencing device can fence node {node!r}")


# The largest cluster accepted without stack.large_cluster_reason, and what each more node costs.
MAX_NODES = 5
_LARGE_CLUSTER_COST = {
    "pacemaker": "corosync's real token grows by token_coefficient with every node above two, so a "
                 "dead node is noticed later",
    "galera": "every write is certified and applied on every node before it commits",
    "rabbitmq": "a quorum queue replicates every message to each member",
}


def _check_cluster_sizes(stack: StackConfig) -> Iterator[Problem]:
    """More than MAX_NODES nodes only with a written reason (issue 17: grown one edit at a time)."""
    if stack.large_cluster_reason:
        return
    for part, cost in _LARGE_CLUSTER_COST.items():
        spec = getattr(stack, part)
        if spec is not None and len(spec.nodes) > MAX_NODES:
            yield Problem((part, "nodes"), f"{len(spec.nodes)} nodes: more than {MAX_NODES} is refused "
                          f"without a reason ({cost}); set large_cluster_reason: <why>")


def _check_timing(stack: StackConfig) -> Iterator[Problem]:
    """The detection and recovery settings against each other (docs/active-active.md, "Failover
    timing"): corosync refuses a consensus below 1.2 x its real token, a knet link must be left
    before the token is lost, and a fence delay must fit in the fence timeout."""
    pcmk = stack.pacemaker
    token, how = pcmk.real_token_ms, pcmk.real_token_formula
    if pcmk.consensus_ms is not None and pcmk.consensus_ms < 1.2 * token:
        yield Problem(("pacemaker", "consensus_ms"),
                      f"{pcmk.consensus_ms} ms is less than 1.2 x the real token ({how}): corosync "
                      f"refuses it; use at least {math.ceil(1.2 * token)} or leave it unset")
    links = {len(stack.host(n).addresses) for n in pcmk.nodes if n in {h.name for h in stack.hosts}}
    if links and len(pcmk.links) > min(links):
        yield Problem(("pacemaker", "links"), f"{len(pcmk.links)} links configured, but the nodes have "
                      f"{min(links)} cluster address(es) each (one per link)")
    for i, link in enumerate(pcmk.links):
        loc = ("pacemaker", "links", i)
        if (link.ping_interval_ms is None) != (link.ping_timeout_ms is None):
            missing = "ping_timeout_ms" if link.ping_timeout_ms is None else "ping_interval_ms"
            yield Problem((*loc, missing), "ping_interval_ms and ping_timeout_ms are a pair: set both "
                          "(corosync would derive the other from the token)")
        if link.ping_interval_ms is not None and link.ping_timeout_ms is not None \
                and link.ping_timeout_ms <= link.ping_interval_ms:
            yield Problem((*loc, "ping_timeout_ms"), f"{link.ping_timeout_ms} ms must be more than "
                          f"ping_interval_ms ({link.ping_interval_ms} ms): a link would be declared dead "
                          "between two pings")
        if link.ping_timeout_ms is not None and link.ping_timeout_ms >= token:
            yield Problem((*loc, "ping_timeout_ms"), f"{link.ping_timeout_ms} ms must be less than the "
                          f"real token ({how}): the token would be lost before knet leaves the dead link")
    fencing = pcmk.fencing
    if fencing.timeout is not None and "stonith-timeout" in pcmk.properties:
        yield Problem(("pacemaker", "properties", "stonith-timeout"),
                      "set by pacemaker.fencing.timeout; remove it here")
    timeout = fencing.timeout or pcmk.properties.get("stonith-timeout", PACEMAKER_STONITH_TIMEOUT)
    if len(pcmk.nodes) == 2 and fencing.devices and re.fullmatch(DURATION, timeout) \
            and duration_ms(fencing.two_node_delay) >= duration_ms(timeout):
        yield Problem(("pacemaker", "fencing", "two_node_delay"),
                      f"{fencing.two_node_delay} must be shorter than the fence timeout "
                      f"(stonith-timeout {timeout}): the fence would time out in its own delay")
    res = pcmk.resources
    for field in ("vip_monitor_timeout", "vip_start_stop_timeout"):
        value = getattr(res, field)
        if value is not None and duration_ms(value) < 1000:
            yield Problem(("pacemaker", "resources", field), "at least 1s")
    if duration_ms(res.vip_monitor_interval) < 1000:
        yield Problem(("pacemaker", "resources", "vip_monitor_interval"),
                      "at least 1s (0 would turn the monitor off)")
    if res.failure_timeout is not None and res.migration_threshold is None:
        yield Problem(("pacemaker", "resources", "failure_timeout"),
                      "forgets failures that only count with a migration_threshold: set that too")


def _check_drbd(stack: StackConfig) -> Iterator[Problem]:
    cluster = set(stack.pacemaker.nodes)
    hosts = {h.name for h in stack.hosts}
    for field in ("name", "minor", "port"):
        dups = _duplicates([getattr(v, field) for v in stack.drbd])
        for i, vol in enumerate(stack.drbd):
            if getattr(vol, field) in dups:
                yield Problem(("drbd", i, field), f"{field} {getattr(vol, field)} is used by another volume")
    for i, vol in enumerate(stack.drbd):
        yield from _references(vol.nodes, cluster, ("drbd", i, "nodes"), "pacemaker node")
        for node in vol.nodes:
            if node in cluster and node in hosts and vol.link >= len(stack.host(node).addresses):
                yield Problem(("drbd", i, "link"), f"host {node!r} has no address for link {vol.link}")


def _check_active_passive(stack: StackConfig) -> Iterator[Problem]:
    vips = {v.name for v in stack.vips}
    volumes = {v.name for v in stack.drbd}
    if stack.topology == "active-passive":
        for part in ("database", "messaging", "openstack"):
            if getattr(stack, part) is None:
                yield Problem((part,), f"the active-passive topology needs a {part} section")
        if stack.openstack and stack.openstack.keystone_processes is not None:
            yield Problem(("openstack", "keystone_processes"),
                          "only the active-active topology sets keystone's processes apart; "
                          "openstack.workers sets every service's")
    for part in ("database", "messaging"):
        spec = getattr(stack, part)
        if spec is None:
            continue
        if spec.vip not in vips:
            yield Problem((part, "vip"), f"VIP {spec.vip!r} is not defined in vips")
        if spec.volume not in volumes:
            yield Problem((part, "volume"), f"DRBD volume {spec.volume!r} is not defined in drbd")
    if stack.database and stack.messaging and stack.database.volume == stack.messaging.volume:
        yield Problem(("messaging", "volume"), "the database and the queue need separate DRBD volumes")
    if stack.openstack:
        if stack.openstack.api_vip not in vips:
            yield Problem(("openstack", "api_vip"),
                          f"VIP {stack.openstack.api_vip!r} is not defined in vips")
        # Every project needs one: its database user and/or its keystone service user.
        for project in projects_of(stack.openstack.services):
            if project not in stack.openstack.service_passwords:
                yield Problem(("openstack", "service_passwords", project),
                              "missing secret (pulumi config set --secret --path "
                              f"'openstack.service_passwords.{project}')")
        services = stack.openstack.services
        if "nova-api" in services and "neutron-metadata-agent" in services and stack.openstack.metadata_secret is None:
            yield Problem(("openstack", "metadata_secret"),
                          "nova-api and neutron-metadata-agent share a secret: pulumi config set --secret "
                          "--path 'openstack.metadata_secret'")
        deployed = projects_of(stack.openstack.services)
        for project in stack.openstack.settings:
            if project not in deployed:
                yield Problem(("openstack", "settings", project),
                              f"{project!r} is not a project of openstack.services (deployed: {deployed})")


def _check_active_active(stack: StackConfig) -> Iterator[Problem]:
    from .active_active import check_active_active

    yield from check_active_active(stack)


def secret_fields(model: StrictModel, loc: Loc = ()) -> Iterator[tuple[Loc, SecretStr]]:
    """Every SecretStr in a validated model, with its field path."""
    for name in type(model).model_fields:
        yield from _secrets_in(getattr(model, name), (*loc, name))


def _secrets_in(value: Any, loc: Loc) -> Iterator[tuple[Loc, SecretStr]]:
    if isinstance(value, SecretStr):
        yield loc, value
    elif isinstance(value, StrictModel):
        yield from secret_fields(value, loc)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _secrets_in(item, (*loc, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _secrets_in(item, (*loc, key))
