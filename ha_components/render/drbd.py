"""DRBD resource files (/etc/drbd.d/<name>.res), in the 8.4 syntax drbd-utils 9 reads."""
from __future__ import annotations

from ..models import DrbdVolumeSpec, Host
from . import render_template


def drbd_resource(spec: DrbdVolumeSpec, hosts: list[Host]) -> str:
    return render_template(
        "drbd.res.j2",
        name=spec.name,
        minor=spec.minor,
        disk=spec.disk,
        protocol=spec.protocol,
        nodes=[{"name": h.name, "address": f"{h.addresses[spec.link]}:{spec.port}"} for h in hosts],
    )
