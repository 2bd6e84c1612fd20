"""Pacemaker objects for a DRBD volume: the promotable clone and its filesystem."""
from __future__ import annotations

from ..models import DrbdVolumeSpec
from .cib import CibChange, Clone, Location, Op, Primitive


def drbd_ids(spec: DrbdVolumeSpec) -> dict[str, str]:
    return {"drbd": f"p_drbd_{spec.name}", "clone": f"ms_drbd_{spec.name}", "fs": f"p_fs_{spec.name}"}


def drbd_cib(owner: str, spec: DrbdVolumeSpec, cluster_nodes: list[str]) -> CibChange:
    ids = drbd_ids(spec)
    drbd = Primitive(ids["drbd"], "ocf:linbit:drbd", {"drbd_resource": spec.name}, ops=(
        Op("start", timeout="90s"), Op("stop", timeout="180s"),
        Op("promote", timeout="180s"), Op("demote", timeout="180s"),
        # drbdadm is slow on a loaded node: Pacemaker's 20 s default failed the monitor there.
        Op("monitor", "30s", role="Unpromoted", timeout="60s"), Op("monitor", "29s", role="Promoted", timeout="60s"),
    ))
    clone = Clone(ids["clone"], drbd, promotable=True, meta={
        "promoted-max": "1", "promoted-node-max": "1", "clone-max": "2", "clone-node-max": "1",
        "notify": "true"})
    # The volume exists on two nodes only: keep it off the others.
    away = tuple(Location(f"l_{ids['clone']}_not_{node}", ids["clone"], node, "-INFINITY")
                 for node in cluster_nodes if node not in spec.nodes)
    return CibChange(owner, resources=(clone,), constraints=away)


def filesystem_primitive(spec: DrbdVolumeSpec) -> Primitive:
    return Primitive(drbd_ids(spec)["fs"], "ocf:heartbeat:Filesystem", {
        "device": spec.device, "directory": spec.mount_point, "fstype": spec.fstype,
        "options": spec.mount_options,
    }, ops=(Op("start", timeout="60s"), Op("stop", timeout="180s"), Op("monitor", "60s", timeout="60s")))
