"""CIB objects (primitives, groups, clones, constraints) and their XML.

A component describes what it wants in the CIB as a CibChange; the change is
applied on a staged copy of the live CIB by files/ha-cib-apply and pushed as
one diff. The objects here only describe; they never talk to a cluster.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Union

from pydantic import SecretStr

ParamValue = Union[str, SecretStr]


@dataclass(frozen=True)
class Op:
    """A Pacemaker operation of a primitive (start, stop, monitor) with its interval and timeout."""

    name: str
    interval: str = "0s"
    timeout: str | None = None
    role: str | None = None  # Promoted / Unpromoted (Pacemaker >= 2.1)
    on_fail: str | None = None  # restart (Pacemaker's default for a monitor), fence, standby, ...


@dataclass(frozen=True)
class Primitive:
    id: str
    agent: str  # "ocf:heartbeat:IPaddr2", "systemd:keystone", "stonith:fence_ipmilan"
    params: dict[str, ParamValue] = field(default_factory=dict)
    ops: tuple[Op, ...] = ()
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def has_secrets(self) -> bool:
        return any(isinstance(v, SecretStr) for v in self.params.values())


@dataclass(frozen=True)
class Group:
    id: str
    members: tuple[Primitive, ...]
    meta: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Clone:
    id: str
    child: Primitive | Group
    meta: dict[str, str] = field(default_factory=dict)
    promotable: bool = False


@dataclass(frozen=True)
class Colocation:
    id: str
    rsc: str
    with_rsc: str
    score: str = "INFINITY"
    with_rsc_role: str | None = None


@dataclass(frozen=True)
class Order:
    id: str
    first: str
    then: str
    first_action: str = "start"
    then_action: str = "start"
    kind: str = "Mandatory"


@dataclass(frozen=True)
class Location:
    id: str
    rsc: str
    node: str
    score: str


Resource = Primitive | Group | Clone
Constraint = Colocation | Order | Location


@dataclass(frozen=True)
class CibChange:
    """Everything one owner (a component instance) keeps in the CIB."""

    owner: str
    properties: dict[str, str] = field(default_factory=dict)
    resources: tuple[Resource, ...] = ()
    constraints: tuple[Constraint, ...] = ()

    @property
    def has_secrets(self) -> bool:
        return any(p.has_secrets for p in _primitives(self.resources))

    def to_xml(self) -> str:
        root = ET.Element("ha-cib", owner=self.owner)
        if self.properties:
            props = ET.SubElement(root, "crm_config")
            for name, value in self.properties.items():
                ET.SubElement(props, "nvpair", name=name, value=value)
        if self.resources:
            section = ET.SubElement(root, "resources")
            for res in self.resources:
                section.append(_resource_xml(res))
        if self.constraints:
            section = ET.SubElement(root, "constraints")
            for con in self.constraints:
                section.append(_constraint_xml(con))
        ET.indent(root)
        return ET.tostring(root, encoding="unicode") + "\n"


def _primitives(resources: tuple[Resource, ...]) -> list[Primitive]:
    out: list[Primitive] = []
    for res in resources:
        if isinstance(res, Primitive):
            out.append(res)
        elif isinstance(res, Group):
            out.extend(res.members)
        else:
            out.extend(_primitives((res.child,)))
    return out


def _nvpairs(parent: ET.Element, tag: str, owner_id: str, values: dict[str, ParamValue]) -> None:
    if not values:
        return
    set_id = f"{owner_id}-{tag}"
    block = ET.SubElement(parent, tag, id=set_id)
    for name, value in values.items():
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        ET.SubElement(block, "nvpair", id=f"{set_id}-{name}", name=name, value=text)


def _agent_attrs(agent: str) -> dict[str, str]:
    parts = agent.split(":")
    if parts[0] == "ocf" and len(parts) == 3:
        return {"class": "ocf", "provider": parts[1], "type": parts[2]}
    if parts[0] in ("systemd", "stonith", "lsb", "service") and len(parts) == 2:
        return {"class": parts[0], "type": parts[1]}
    raise ValueError(f"resource agent {agent!r} is not class:type or ocf:provider:type")


def _resource_xml(res: Resource) -> ET.Element:
    if isinstance(res, Primitive):
        el = ET.Element("primitive", id=res.id, **_agent_attrs(res.agent))
        _nvpairs(el, "instance_attributes", res.id, res.params)
        _nvpairs(el, "meta_attributes", res.id, res.meta)
        if res.ops:
            ops = ET.SubElement(el, "operations")
            for op in res.ops:
                attrs = {"id": f"{res.id}-{op.name}-{op.interval}" + (f"-{op.role}" if op.role else ""),
                         "name": op.name, "interval": op.interval}
                if op.timeout:
                    attrs["timeout"] = op.timeout
                if op.role:
                    attrs["role"] = op.role
                if op.on_fail:
                    attrs["on-fail"] = op.on_fail
                ET.SubElement(ops, "op", attrs)
        return el
    if isinstance(res, Group):
        el = ET.Element("group", id=res.id)
        _nvpairs(el, "meta_attributes", res.id, res.meta)
        for member in res.members:
            el.append(_resource_xml(member))
        return el
    el = ET.Element("clone", id=res.id)
    meta = {"promotable": "true", **res.meta} if res.promotable else res.meta
    _nvpairs(el, "meta_attributes", res.id, meta)
    el.append(_resource_xml(res.child))
    return el


def _constraint_xml(con: Constraint) -> ET.Element:
    if isinstance(con, Colocation):
        attrs = {"id": con.id, "rsc": con.rsc, "with-rsc": con.with_rsc, "score": con.score}
        if con.with_rsc_role:
            attrs["with-rsc-role"] = con.with_rsc_role
        return ET.Element("rsc_colocation", attrs)
    if isinstance(con, Order):
        return ET.Element("rsc_order", {
            "id": con.id, "first": con.first, "first-action": con.first_action,
            "then": con.then, "then-action": con.then_action, "kind": con.kind})
    return ET.Element("rsc_location", id=con.id, rsc=con.rsc, node=con.node, score=con.score)
