"""`python -m ha_components diagram STACKFILE --out topology.svg`: a picture of the topology.

`collect` gathers what to draw: the stack's hosts, VIPs, Galera, RabbitMQ, DRBD and HAProxy
plan from the validated model, and the Pacemaker objects (groups, clones, colocations,
orders, locations) from the CIB changes the components really push, recorded under
Pulumi's mocks as `render` does. `dot_source` turns that into Graphviz text (pure);
`write_diagram` runs Graphviz's `dot` to make SVG or PNG.
"""
from __future__ import annotations

import contextlib
import html
import io
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from .models import StackConfig
from .models.active_active import frontend_plan
from .models.haproxy import PlannedListener


class DiagramError(Exception):
    pass


@dataclass(frozen=True)
class CibResource:
    id: str
    kind: str  # primitive, group, clone, promotable
    members: tuple[tuple[str, str], ...]  # (primitive id, agent) in order
    params: dict[str, str] = field(default_factory=dict)  # the members' instance attributes


@dataclass
class Cib:
    resources: list[CibResource] = field(default_factory=list)
    colocations: list[tuple[str, str, str]] = field(default_factory=list)  # rsc, with, role
    orders: list[tuple[str, str, str]] = field(default_factory=list)  # first, then, label
    locations: list[tuple[str, str, str]] = field(default_factory=list)  # rsc, node, score


def parse_cib(changes: list[str]) -> Cib:
    """The objects of `<ha-cib>` change documents (render.cib.CibChange.to_xml)."""
    cib = Cib()
    for text in changes:
        root = ET.fromstring(text)
        for res in root.iterfind("resources/*"):
            cib.resources.append(_resource(res))
        for con in root.iterfind("constraints/*"):
            if con.tag == "rsc_colocation":
                cib.colocations.append((con.get("rsc", ""), con.get("with-rsc", ""), con.get("with-rsc-role", "")))
            elif con.tag == "rsc_order":
                first_action, kind = con.get("first-action", "start"), con.get("kind", "Mandatory")
                label = (f"{first_action} then {con.get('then-action', 'start')}"
                         + ("" if kind == "Mandatory" else f" ({kind.lower()})"))
                cib.orders.append((con.get("first", ""), con.get("then", ""), label))
            elif con.tag == "rsc_location":
                cib.locations.append((con.get("rsc", ""), con.get("node", ""), con.get("score", "")))
    return cib


def _agent(prim: ET.Element) -> str:
    parts = [prim.get("class"), prim.get("provider"), prim.get("type")]
    return ":".join(p for p in parts if p)


def _resource(el: ET.Element) -> CibResource:
    prims = [el] if el.tag == "primitive" else list(el.iter("primitive"))
    params = {n.get("name", ""): n.get("value", "") for p in prims
              for n in p.iterfind("instance_attributes/nvpair")}
    kind = el.tag
    if el.tag == "clone" and any(n.get("name") == "promotable" and n.get("value") == "true"
                                 for n in el.iterfind("meta_attributes/nvpair")):
        kind = "promotable"
    return CibResource(el.get("id", ""), kind, tuple((p.get("id", ""), _agent(p)) for p in prims), params)


def record_cib(stack: StackConfig) -> Cib:
    """The CIB changes the stack's components push, from a mock run (imports pulumi)."""
    from .dryrun import record

    with contextlib.redirect_stderr(io.StringIO()):  # preview warnings (an absent SSH key) do not matter here
        commands = record(stack)
    changes = [inputs["stdin"] for _, inputs in commands
               if isinstance(inputs.get("stdin"), str) and inputs["stdin"].startswith("<ha-cib")]
    return parse_cib(changes)


# --- Graphviz text -------------------------------------------------------------------------

COLORS = {"host": "#eeeeee", "vip": "#ffd58a", "pacemaker": "#d6e6ff", "galera": "#cdeccd",
          "rabbitmq": "#ffe0cc", "drbd": "#e6d6f5", "haproxy": "#cceff0"}


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(title: str, rows: list[str], color: str, ports: list[str] | None = None) -> str:
    """An HTML-like label: a bold title row, then one row per line (with an optional port)."""
    cells = [f'<TR><TD BGCOLOR="{color}"><B>{_e(title)}</B></TD></TR>']
    for i, row in enumerate(rows):
        port = f' PORT="{ports[i]}"' if ports else ""
        cells.append(f'<TR><TD ALIGN="LEFT"{port}>{row}</TD></TR>')
    return f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">{"".join(cells)}</TABLE>>'


def _node(name: str, label: str, **attrs: str) -> str:
    extra = "".join(f" {k}={_q(v)}" for k, v in attrs.items())
    return f"  {_q(name)} [label={label}{extra}];"


def _edge(a: str, b: str, **attrs: str) -> str:
    """An edge between two node ids (a record port goes in the tailport attribute)."""
    extra = ", ".join(f"{k}={_q(v)}" for k, v in attrs.items())
    return f"  {_q(a)} -> {_q(b)}" + (f" [{extra}]" if extra else "") + ";"


def _host_id(name: str) -> str:
    return f"host:{name}"


def dot_source(stack: StackConfig, cib: Cib, title: str = "") -> str:
    """Graphviz text of the topology: left to right VIPs, HAProxy and Pacemaker objects,
    Galera/RabbitMQ/DRBD, hosts."""
    lines = ["digraph topology {", "  rankdir=LR; newrank=true; nodesep=0.3; ranksep=1.3;",
             '  node [shape=plain, fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=9, color="#555555"];']
    nets = ", ".join(f"{n.name} {n.cidr}" for n in stack.networks)
    caption = f"{title + ': ' if title else ''}{stack.topology} · networks: {nets}"
    lines.append(f'  labelloc=t; fontname="Helvetica"; fontsize=14; label={_q(caption)};')

    def network_of(address: object) -> str:
        return next((n.name for n in stack.networks if address in n.cidr), "?")

    # Hosts, one column in the stack's order; edges end on the address row they use.
    lines.append("  subgraph hosts { rank=same;")
    for host in stack.hosts:
        rows = [f"ssh {_e(host.ssh.user)}@{_e(host.ssh.host)}:{host.ssh.port}"]
        rows += [f"link {i}: {_e(a)} ({_e(network_of(a))})" for i, a in enumerate(host.addresses)]
        ports = ["ssh", *(f"a{i}" for i in range(len(host.addresses)))]
        lines.append(_node(_host_id(host.name), _table(host.name, rows, COLORS["host"], ports)))
    for a, b in zip(stack.hosts, stack.hosts[1:]):
        lines.append(_edge(_host_id(a.name), _host_id(b.name), style="invis"))
    lines.append("  }")

    # Pacemaker objects inside the cluster box.
    pcmk = stack.pacemaker
    lines.append(f"  subgraph cluster_pacemaker {{ style=rounded; color=\"#7a9cc6\"; "
                 f"label={_q(f'Pacemaker cluster {pcmk.cluster_name} on ' + ', '.join(pcmk.nodes))};")
    known = set()
    for res in cib.resources:
        known.add(res.id)
        kind = {"primitive": "", "group": " (group)", "clone": " (clone)",
                "promotable": " (promotable clone)"}[res.kind]
        rows = [f"{_e(pid)}: {_e(agent)}" for pid, agent in res.members]
        lines.append(_node(f"rsc:{res.id}", _table(res.id + kind, rows, COLORS["pacemaker"])))
    lines.append("  }")
    for rsc, with_rsc, role in cib.colocations:
        if rsc in known and with_rsc in known:
            lines.append(_edge(f"rsc:{rsc}", f"rsc:{with_rsc}", label=f"colocated with{' ' + role if role else ''}",
                               color="#2060c0", fontcolor="#2060c0", penwidth="1.5"))
    for first, then, label in cib.orders:
        if first in known and then in known:
            lines.append(_edge(f"rsc:{first}", f"rsc:{then}", label=label, style="dashed",
                               color="#888888", fontcolor="#666666", constraint="false"))
    for rsc, node, score in cib.locations:
        if rsc in known:
            lines.append(_edge(f"rsc:{rsc}", _host_id(node), label=f"location {score}", style="dotted",
                               color="#c03030", fontcolor="#c03030"))

    # VIPs and what carries each.
    carriers = {res.params["ip"]: res.id for res in cib.resources if "ip" in res.params}
    lines.append("  subgraph vips { rank=min;")
    for vip in stack.vips:
        rows = [f"{_e(vip.address)} ({_e(network_of(vip.address))})"] + ([f"nic {_e(vip.nic)}"] if vip.nic else [])
        lines.append(_node(f"vip:{vip.name}", _table(f"VIP {vip.name}", rows, COLORS["vip"])))
    lines.append("  }")
    for vip in stack.vips:
        carrier = carriers.get(str(vip.address))
        if carrier:
            lines.append(_edge(f"vip:{vip.name}", f"rsc:{carrier}", label="carried by", color="#c07000",
                               fontcolor="#c07000", penwidth="1.5"))

    lines += _haproxy(stack, cib)
    lines += _members(stack, cib)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _haproxy(stack: StackConfig, cib: Cib) -> list[str]:
    """One table row per pool of listeners sharing their backends, one edge per pool and backend."""
    hap = stack.haproxy
    if hap is None:
        return []
    vip = str(stack.vip(hap.vip).address) if hap.vip in {v.name for v in stack.vips} else ""
    pools: dict[tuple[tuple[str, bool], ...], list[PlannedListener]] = {}
    for listener in frontend_plan(stack):
        pools.setdefault(tuple((s.host, s.backup) for s in listener.servers), []).append(listener)
    rows = []
    for members in pools.values():
        rows.append('<BR ALIGN="LEFT"/>'.join(
            f"{_e(p.name)} {'' if p.bind[0] == vip else _e(p.bind[0])}:{p.bind[1]}"
            f" → :{p.servers[0].port if p.servers else '-'}" for p in members) + '<BR ALIGN="LEFT"/>')
    ports = [f"p{i}" for i in range(len(pools))]
    title = f"HAProxy listeners on {vip or hap.vip} (run on {', '.join(hap.nodes)})"
    lines = [_node("haproxy", _table(title, rows, COLORS["haproxy"], ports))]
    lines.append(_edge(f"vip:{hap.vip}", "haproxy", label="listeners on", color="#208080", fontcolor="#208080"))
    if clone := next((r.id for r in cib.resources if r.kind == "clone" and
                      any(agent.endswith(":haproxy") for _, agent in r.members)), None):
        lines.append(_edge("haproxy", f"rsc:{clone}", label="run by", style="dotted", color="#208080",
                           fontcolor="#208080", constraint="false"))
    for port, servers in zip(ports, pools):
        single_writer = any(backup for _, backup in servers)
        for host, backup in servers:
            lines.append(_edge("haproxy", _host_id(host), tailport=f"{port}:e", headport=f"a{hap.link}:w",
                               label="backup" if backup else ("writer" if single_writer else ""),
                               style="dashed" if backup else "solid", color="#208080", fontcolor="#208080"))
    return lines


def _members(stack: StackConfig, cib: Cib) -> list[str]:
    """Galera and RabbitMQ membership, DRBD volumes with their two nodes."""
    lines: list[str] = []
    if g := stack.galera:
        rows = [f"nodes {_e(', '.join(g.nodes))} (first bootstraps)",
                f"port {g.port}, health :{g.health_port}, SST {_e(g.sst_method)}"]
        lines.append(_node("galera", _table(f"Galera {g.cluster_name}", rows, COLORS["galera"])))
        for i, node in enumerate(g.nodes):
            lines.append(_edge("galera", _host_id(node), label="bootstrap" if i == 0 else "",
                               headport=f"a{g.link}:w", color="#308030", fontcolor="#308030"))
        if g.arbitrator:
            lines.append(_edge("galera", _host_id(g.arbitrator), label="garbd", style="dashed", color="#308030"))
    if mq := stack.rabbitmq:
        rows = [f"nodes {_e(', '.join(f'rabbit@{n}' for n in mq.nodes))}",
                f"AMQP :{mq.port}, {_e(mq.queue_ha)} queues, {_e(mq.partition_handling)}"]
        lines.append(_node("rabbitmq", _table("RabbitMQ cluster", rows, COLORS["rabbitmq"])))
        for node in mq.nodes:
            lines.append(_edge("rabbitmq", _host_id(node), headport=f"a{mq.link}:w", color="#c06020"))
    for vol in stack.drbd:
        rows = [f"{_e(vol.device)} on {_e(vol.disk)}", f"{_e(vol.fstype)} at {_e(vol.mount_point)}",
                f"port {vol.port}, protocol {vol.protocol}"]
        lines.append(_node(f"drbd:{vol.name}", _table(f"DRBD {vol.name}", rows, COLORS["drbd"])))
        for node in vol.nodes:
            lines.append(_edge(f"drbd:{vol.name}", _host_id(node), label="replica", headport=f"a{vol.link}:w",
                               color="#7040a0", fontcolor="#7040a0"))
        for res in cib.resources:
            if res.kind == "promotable" and res.params.get("drbd_resource") == vol.name:
                lines.append(_edge(f"rsc:{res.id}", f"drbd:{vol.name}", label="promotes", style="dotted",
                                   color="#7040a0", fontcolor="#7040a0"))
    return lines


def collect(stack: StackConfig, title: str = "") -> str:
    """The Graphviz text of a validated stack, Pacemaker objects included."""
    return dot_source(stack, record_cib(stack), title)


def render(dot: str, fmt: str) -> bytes:
    """Run Graphviz's `dot` (Debian package graphviz)."""
    exe = shutil.which("dot")
    if exe is None:
        raise DiagramError("Graphviz's `dot` is not installed (apt-get install graphviz); "
                           "write a .dot file instead and render it elsewhere")
    done = subprocess.run([exe, f"-T{fmt}"], input=dot.encode(), capture_output=True)
    if done.returncode != 0:
        raise DiagramError(f"dot failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def write_diagram(stack: StackConfig, out: Path, title: str = "") -> None:
    """Write `out` as .dot (Graphviz text), .svg or .png."""
    dot = collect(stack, title)
    fmt = out.suffix.lstrip(".").lower()
    if fmt == "dot":
        out.write_text(dot)
    elif fmt in ("svg", "png"):
        out.write_bytes(render(dot, fmt))
    else:
        raise DiagramError(f"{out}: write .svg, .png or .dot")
