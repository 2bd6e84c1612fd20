"""The cluster's own CIB objects: properties and fencing devices."""
from __future__ import annotations

from ..models import PacemakerSpec
from .cib import CibChange, Location, Op, Primitive


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
