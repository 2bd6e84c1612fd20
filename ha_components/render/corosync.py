"""corosync.conf for corosync 3 with the knet transport (the seed's two rings = two links)."""
from __future__ import annotations

from ..models import Host, PacemakerSpec
from . import render_template


# Stack setting -> corosync.conf key; unset settings are left to corosync's defaults.
TOTEM_KEYS = {"token_ms": "token", "token_coefficient_ms": "token_coefficient", "consensus_ms": "consensus"}
LINK_KEYS = {"ping_interval_ms": "knet_ping_interval", "ping_timeout_ms": "knet_ping_timeout",
             "pong_count": "knet_pong_count", "priority": "knet_link_priority"}


def node_ids(hosts: list[Host]) -> dict[str, int]:
    """Corosync's node ids: the nodes' positions in pacemaker.nodes, from 1."""
    return {h.name: i for i, h in enumerate(hosts, start=1)}


def corosync_conf(spec: PacemakerSpec, hosts: list[Host], keyfile: str = "/etc/corosync/authkey") -> str:
    ids = node_ids(hosts)
    nodes = [{"name": h.name, "nodeid": ids[h.name], "addresses": [str(a) for a in h.addresses]} for h in hosts]
    return render_template(
        "corosync.conf.j2",
        cluster_name=spec.cluster_name,
        crypto_cipher=spec.crypto_cipher,
        crypto_hash=spec.crypto_hash,
        keyfile=keyfile,
        link_mode=spec.link_mode,
        totem_options={key: getattr(spec, field) for field, key in TOTEM_KEYS.items()
                       if getattr(spec, field) is not None},
        links=[{"number": i, "options": {key: getattr(spec.links[i], field) for field, key in LINK_KEYS.items()
                                         if i < len(spec.links) and getattr(spec.links[i], field) is not None}}
               for i in range(len(hosts[0].addresses))],
        nodes=nodes,
        two_node=len(hosts) == 2,
    )
