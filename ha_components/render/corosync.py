"""corosync.conf for corosync 3 with the knet transport (the seed's two rings = two links)."""
from __future__ import annotations

from ..models import Host, PacemakerSpec
from . import render_template


def corosync_conf(spec: PacemakerSpec, hosts: list[Host], link_mode: str = "passive",
                  keyfile: str = "/etc/corosync/authkey") -> str:
    nodes = [
        {"name": h.name, "nodeid": i, "addresses": [str(a) for a in h.addresses]}
        for i, h in enumerate(hosts, start=1)
    ]
    return render_template(
        "corosync.conf.j2",
        cluster_name=spec.cluster_name,
        crypto_cipher=spec.crypto_cipher,
        crypto_hash=spec.crypto_hash,
        keyfile=keyfile,
        link_mode=link_mode,
        totem_options={"token": spec.token_ms} if spec.token_ms else {},
        links=list(range(len(hosts[0].addresses))),
        nodes=nodes,
        two_node=len(hosts) == 2,
    )
