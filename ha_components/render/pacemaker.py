"""The cluster's own CIB objects: properties and fencing devices."""
from __future__ import annotations

import dataclasses

from ..models import PacemakerSpec
from ..models.pacemaker import ResourcePolicy
from .cib import CibChange, Clone, Group, Location, Op, Primitive, Resource


def fencing_primitives(spec: PacemakerSpec) -> tuple[list[Primitive], list[Location]]:
    primitives, locations = [], []
    two_node = len(spec.nodes) == 2
    for dev in spec.fencing.devices:
        params: dict = {**dev.params, **dev.secret_params, "pcmk_host_list": " ".join(dev.targets)}
        if two_node:
            params["pcmk_delay_max"] = spec.fencing.two_node_delay
        # 60 s: a fence agent's monitor (a Python start-up plus a network round trip) took
        # over 30 s on a loaded node.
        prim = Primitive(f"st_{dev.name}", f"stonith:{dev.agent}", params,
                         ops=(Op("monitor", "60s", timeout="60s"),))
        primitives.append(prim)
        if len(dev.targets) == 1:
            # A node never runs the device that fences it.
            locations.append(Location(f"l_st_{dev.name}_not_on_target", prim.id, dev.targets[0], "-INFINITY"))
    return primitives, locations


def cluster_cib(owner: str, spec: PacemakerSpec) -> CibChange:
    primitives, locations = fencing_primitives(spec)
    properties = {**spec.effective_properties, "stonith-enabled": "true" if primitives else "false"}
    return CibChange(owner, properties, tuple(primitives), tuple(locations))


def with_resource_policy(change: CibChange, policy: ResourcePolicy) -> CibChange:
    """`change` with the stack's recovery policy (pacemaker.resources) on every primitive but the
    fence devices: `on-fail` on each monitor, `migration-threshold` and `failure-timeout` as meta
    attributes. What a component sets itself wins; unset settings leave Pacemaker's defaults (and
    the XML as it was)."""
    meta = {name: value for name, value in (
        ("migration-threshold", None if policy.migration_threshold is None else str(policy.migration_threshold)),
        ("failure-timeout", policy.failure_timeout)) if value is not None}
    if not meta and policy.on_fail is None:
        return change

    def primitive(p: Primitive) -> Primitive:
        if p.agent.startswith("stonith:"):
            return p
        ops = tuple(dataclasses.replace(op, on_fail=policy.on_fail)
                    if op.name == "monitor" and op.on_fail is None and policy.on_fail else op for op in p.ops)
        return dataclasses.replace(p, ops=ops, meta={**meta, **p.meta})

    def resource(r: Resource) -> Resource:
        if isinstance(r, Primitive):
            return primitive(r)
        if isinstance(r, Group):
            return dataclasses.replace(r, members=tuple(primitive(m) for m in r.members))
        assert isinstance(r, Clone)
        return dataclasses.replace(r, child=resource(r.child))

    return dataclasses.replace(change, resources=tuple(resource(r) for r in change.resources))
