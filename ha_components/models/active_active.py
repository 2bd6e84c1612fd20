"""Pre-flight checks of the active/active topology, and the address plan they share with rendering.

Every problem names its field path (`haproxy.custom_listeners[0].port`).
"""
from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Iterator

from .haproxy import PUBLIC_LISTENERS, SEED_LISTENERS, Listener, MemcachedSpec, PlannedListener, Server, default_listeners

if TYPE_CHECKING:
    from .stack import Loc, Problem, StackConfig

GALERA_REPLICATION_PORTS = (4567, 4568, 4444)  # group communication, IST, SST
RABBIT_EPMD_PORT = 4369


def controllers(stack: "StackConfig") -> list[str]:
    """Hosts running the OpenStack services and memcached: the Pacemaker nodes."""
    return list(stack.pacemaker.nodes)


def _address(stack: "StackConfig", host: str, link: int) -> str | None:
    known = {h.name: h for h in stack.hosts}
    if host not in known or link >= len(known[host].addresses):
        return None
    return str(known[host].addresses[link])


def listener_names(stack: "StackConfig") -> list[str]:
    """haproxy.listeners as written, or by default the listeners of what the stack deploys."""
    hap = stack.haproxy
    if hap is None:
        return []
    if hap.listeners is not None:
        return list(hap.listeners)
    return default_listeners(stack.openstack.services if stack.openstack else [], stack.galera is not None)


def frontend_plan(stack: "StackConfig") -> list[PlannedListener]:
    """Every listen section with its bind address and servers (unknown hosts are left out)."""
    hap = stack.haproxy
    if hap is None:
        return []
    vips = {v.name: str(v.address) for v in stack.vips}
    vip = vips.get(hap.vip, "0.0.0.0")
    default_backends = hap.backends if hap.backends is not None else controllers(stack)
    items: list[tuple[Loc, Listener]] = [(("haproxy", "listeners", i), SEED_LISTENERS[n])
                                         for i, n in enumerate(listener_names(stack))]
    items += [(("haproxy", "custom_listeners", i), spec) for i, spec in enumerate(hap.custom_listeners)]
    plan = []
    for loc, spec in items:
        check_port = spec.check_port
        link = hap.link
        if spec.name == "galera" and stack.galera is not None and loc[1] == "listeners":
            backends, port, link = stack.galera.nodes, stack.galera.port, stack.galera.link
            check_port = stack.galera.health_port
        else:
            backends = spec.backends if spec.backends is not None else default_backends
            port = spec.backend_port or spec.port
        servers = []
        for i, host in enumerate(backends):
            addr = _address(stack, host, link)
            if addr is not None:
                servers.append(Server(host, addr, port, backup=spec.single_writer and i > 0))
        bind = str(spec.bind_address) if spec.bind_address else vip
        plan.append(PlannedListener(spec.name, loc, (bind, spec.port), tuple(servers), spec, check_port))
        if hap.tls and spec.name in PUBLIC_LISTENERS and loc[1] == "listeners":
            public = vips.get(hap.tls.public_vip, "0.0.0.0")
            plan.append(PlannedListener(f"{spec.name}_tls", ("haproxy", "tls", "public_vip"), (public, spec.port),
                                        tuple(servers), spec, check_port, tls=True))
    return plan


def public_base(stack: "StackConfig") -> str:
    """`scheme://host` of the catalog's public endpoints: https on haproxy.tls's public VIP (or
    openstack.public_endpoint_host) when set, else http on public_endpoint_host or the API VIP."""
    vips = {v.name: str(v.address) for v in stack.vips}
    ops, tls = stack.openstack, stack.haproxy.tls if stack.haproxy else None
    named = ops.public_endpoint_host if ops else None
    if tls is not None:
        return f"https://{named or vips.get(tls.public_vip, '')}"
    return f"http://{named or vips.get(ops.api_vip if ops else '', '')}"


def backend_bindings(stack: "StackConfig") -> dict[str, dict[tuple[str, int], str]]:
    """host -> {(address, port): what listens there} for every service the stack binds to a node."""
    out: dict[str, dict[tuple[str, int], str]] = {}

    def add(host: str, link: int, port: int, what: str) -> None:
        addr = _address(stack, host, link)
        if addr is not None:
            out.setdefault(host, {}).setdefault((addr, port), what)

    for listener in frontend_plan(stack):
        for server in listener.servers:
            out.setdefault(server.host, {}).setdefault((server.address, server.port),
                                                        f"the {listener.name} backend")
            if listener.check_port:
                out[server.host].setdefault((server.address, listener.check_port),
                                            f"the {listener.name} health check")
    if stack.galera:
        for host in stack.galera.nodes:
            for port in GALERA_REPLICATION_PORTS:
                add(host, stack.galera.link, port, "Galera replication")
    if stack.rabbitmq:
        for host in stack.rabbitmq.nodes:
            add(host, stack.rabbitmq.link, stack.rabbitmq.port, "RabbitMQ")
            add(host, stack.rabbitmq.link, stack.rabbitmq.dist_port, "RabbitMQ clustering")
    if stack.topology == "active-active":
        mc = stack.memcached or MemcachedSpec()
        for host in controllers(stack):
            add(host, mc.link, mc.port, "memcached")
    return out


def frontend_bindings(stack: "StackConfig") -> dict[str, list[tuple["Loc", tuple[str, int], str]]]:
    """HAProxy host -> what it binds: every listener (the VIP moves between them) and stats."""
    hap = stack.haproxy
    if hap is None:
        return {}
    plan = frontend_plan(stack)
    out: dict[str, list[tuple[Loc, tuple[str, int], str]]] = {}
    for host in hap.nodes:
        binds = [(p.loc, p.bind, f"listener {p.name}") for p in plan]
        addr = _address(stack, host, hap.link)
        if addr is not None:
            binds.append((("haproxy", "stats_port"), (addr, hap.stats_port), "the stats page"))
        out[host] = binds
    return out


def check_active_active(stack: "StackConfig") -> Iterator["Problem"]:
    from .stack import Problem, _references

    hosts = {h.name for h in stack.hosts}
    cluster = set(stack.pacemaker.nodes)
    if stack.topology == "active-active":
        for part in ("galera", "rabbitmq", "haproxy", "openstack"):
            if getattr(stack, part) is None:
                yield Problem((part,), f"the active-active topology needs a {part} section")

    def links(names: list[str], link: int, loc: "Loc") -> Iterator[Problem]:
        for name in names:
            if name in hosts and link >= len(stack.host(name).addresses):
                yield Problem(loc, f"host {name!r} has no address for link {link}")

    if g := stack.galera:
        yield from _references(g.nodes, hosts, ("galera", "nodes"), "host")
        yield from links(g.nodes, g.link, ("galera", "link"))
        n = len(g.nodes)
        if g.arbitrator is not None:
            if g.arbitrator not in hosts:
                yield Problem(("galera", "arbitrator"), f"host {g.arbitrator!r} is not defined")
            elif g.arbitrator in g.nodes:
                yield Problem(("galera", "arbitrator"), f"{g.arbitrator!r} is already a Galera node; "
                              "the arbitrator must be another host")
            if n % 2 == 1:
                yield Problem(("galera", "arbitrator"), f"{n} nodes plus an arbitrator make an even "
                              "number of votes; an arbitrator only helps an even node count")
        elif n == 1 and not g.development:
            yield Problem(("galera", "nodes"), "a single Galera node replicates nothing; use 3 nodes, "
                          "or set galera.development: true for a development database")
        elif n % 2 == 0:
            yield Problem(("galera", "nodes"), f"{n} nodes: an even count loses quorum when split in "
                          "half (both halves go non-Primary); use an odd count, or add a garbd vote "
                          "with galera.arbitrator: <host>")
        if g.development and n > 1:
            yield Problem(("galera", "development"), "only for a single-node development database")
    if r := stack.rabbitmq:
        yield from _references(r.nodes, hosts, ("rabbitmq", "nodes"), "host")
        yield from links(r.nodes, r.link, ("rabbitmq", "link"))
        n = len(r.nodes)
        if n == 1 and not r.development:
            yield Problem(("rabbitmq", "nodes"), "a single RabbitMQ node is no cluster; use 3 nodes, "
                          "or set rabbitmq.development: true for a development broker")
        elif n > 1 and n % 2 == 0 and not r.even_nodes_reason:
            yield Problem(("rabbitmq", "nodes"), f"{n} nodes: with {r.partition_handling} an even split "
                          "leaves no majority (quorum queues and pause_minority stop both halves); use an "
                          "odd count, or write the reason into rabbitmq.even_nodes_reason")
        if r.development and n > 1:
            yield Problem(("rabbitmq", "development"), "only for a single-node development broker")
        if r.port == r.dist_port:
            yield Problem(("rabbitmq", "dist_port"), "must differ from rabbitmq.port")
        for name in sorted({d for d, c in Counter(u.name for u in r.users).items() if c > 1}):
            yield Problem(("rabbitmq", "users"), f"user {name!r} is listed more than once")
    if h := stack.haproxy:
        yield from _references(h.nodes, cluster, ("haproxy", "nodes"), "pacemaker node")
        yield from links(h.nodes, h.link, ("haproxy", "link"))
        if h.vip not in {v.name for v in stack.vips}:
            yield Problem(("haproxy", "vip"), f"VIP {h.vip!r} is not defined in vips")
        if h.backends is not None:
            yield from _references(h.backends, hosts, ("haproxy", "backends"), "host")
            yield from links(h.backends, h.link, ("haproxy", "link"))
        for i, spec in enumerate(h.custom_listeners):
            if spec.backends is not None:
                yield from _references(spec.backends, hosts,
                                       ("haproxy", "custom_listeners", i, "backends"), "host")
                yield from links(spec.backends, h.link, ("haproxy", "custom_listeners", i, "backends"))
        seed_names = listener_names(stack)
        names = seed_names + [s.name for s in h.custom_listeners]
        for name in sorted({n for n, c in Counter(names).items() if c > 1}):
            yield Problem(("haproxy", "custom_listeners"), f"listener name {name!r} is used twice")
        if stack.topology == "active-active" and "galera" not in seed_names:
            yield Problem(("haproxy", "listeners"), "the active-active topology reaches Galera through "
                          "the 'galera' listener: keep it in the list")
        for field, check in (("check", h.check), ("galera_check", h.galera_check)):
            if check is not None and check.fastinter_ms > check.inter_ms:
                yield Problem(("haproxy", field, "fastinter_ms"), f"{check.fastinter_ms} ms is more than "
                              f"inter_ms ({check.inter_ms} ms): checks would slow down once one failed")
        if h.tls is not None:
            if h.tls.public_vip not in {v.name for v in stack.vips}:
                yield Problem(("haproxy", "tls", "public_vip"), f"VIP {h.tls.public_vip!r} is not defined in vips")
            elif h.tls.public_vip == h.vip:
                yield Problem(("haproxy", "tls", "public_vip"), "must differ from haproxy.vip: the internal "
                              "endpoints stay plain HTTP there, on the same ports")
        yield from _check_bindings(stack)
    yield from _check_leaving(stack)
    if stack.topology == "active-active" and stack.openstack and stack.haproxy:
        if stack.openstack.api_vip != stack.haproxy.vip:
            yield Problem(("openstack", "api_vip"), f"in active-active the API VIP is HAProxy's "
                          f"({stack.haproxy.vip!r}), not {stack.openstack.api_vip!r}")


def _check_leaving(stack: "StackConfig") -> Iterator["Problem"]:
    """Leaving controllers: defined hosts in no role, few enough that the rest keep quorum."""
    from .stack import Problem, _duplicates, format_loc

    if not stack.leaving:
        return
    if stack.topology != "active-active":
        yield Problem(("leaving",), "only the active-active topology's controllers can leave")
        return
    hosts = {h.name for h in stack.hosts}
    roles: list[tuple[Loc, list[str]]] = [(("pacemaker", "nodes"), stack.pacemaker.nodes)]
    roles += [(("pacemaker", "fencing", "devices", i, "targets"), d.targets)
              for i, d in enumerate(stack.pacemaker.fencing.devices)]
    if g := stack.galera:
        roles += [(("galera", "nodes"), g.nodes), (("galera", "arbitrator"), [g.arbitrator] if g.arbitrator else [])]
    if r := stack.rabbitmq:
        roles.append((("rabbitmq", "nodes"), r.nodes))
    if h := stack.haproxy:
        roles += [(("haproxy", "nodes"), h.nodes), (("haproxy", "backends"), h.backends or [])]
    for i, name in enumerate(stack.leaving):
        if name not in hosts:
            yield Problem(("leaving", i), f"host {name!r} is not defined: a leaving controller stays in "
                          "hosts until it has left (the steps run on it)")
        for loc, names in roles:
            if name in names:
                yield Problem(loc, f"{name!r} is leaving (leaving[{i}]): remove it from {format_loc(loc)}")
    for name in sorted(_duplicates(stack.leaving)):
        yield Problem(("leaving",), f"{name!r} is listed twice")
    staying, leaving = len(stack.pacemaker.nodes), len(set(stack.leaving))
    if staying <= leaving:
        yield Problem(("leaving",), f"{leaving} of {staying + leaving} controllers leaving at once: the {staying} "
                      "that stay are no majority of the running cluster, which would lose quorum on the way; "
                      f"let at most {max(staying - 1, 0)} leave per `up`")


def _check_bindings(stack: "StackConfig") -> Iterator["Problem"]:
    from .stack import Problem, format_loc

    fronts = frontend_bindings(stack)
    backs = backend_bindings(stack)
    reported: set[tuple[Loc, tuple[str, int]]] = set()
    for host, binds in fronts.items():
        seen: dict[tuple[str, int], tuple[Loc, str]] = {}
        for loc, bind, what in binds:
            if bind in seen and (loc, bind) not in reported:
                reported.add((loc, bind))
                yield Problem(loc, f"{what} binds {bind[0]}:{bind[1]}, which {seen[bind][1]} "
                              f"({format_loc(seen[bind][0])}) already binds")
                continue
            seen.setdefault(bind, (loc, what))
            addr, port = bind
            clash = backs.get(host, {}).get(bind)
            if clash and (loc, bind) not in reported:
                reported.add((loc, bind))
                yield Problem(loc, f"{what} binds {addr}:{port} on host {host!r}, where {clash} "
                              "listens: bind services to node addresses and give HAProxy the VIP")
