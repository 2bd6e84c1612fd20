"""DRBD replicated volumes (seed chapter 2: the mysql and rabbitmq resources)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import AbsPath, Name, StrictModel


class DrbdVolumeSpec(StrictModel):
    """A DRBD resource replicated between two Pacemaker nodes, mounted where it is Primary."""

    name: Name = Field(examples=["mysql"])
    """DRBD resource name (/etc/drbd.d/<name>.res); database/messaging refer to it."""
    minor: int = Field(ge=0, le=1048575, examples=[0])
    """Device minor: the volume is /dev/drbd<minor>."""
    port: int = Field(ge=1024, le=65535, examples=[7788])
    """TCP port DRBD replicates on (one per volume)."""
    disk: AbsPath = Field(examples=["/dev/vg0/mysql"])
    """Backing block device on every node, e.g. an LVM volume."""
    nodes: list[Name] = Field(min_length=2, max_length=2)
    """The two Pacemaker nodes holding a replica (the in-kernel module is DRBD 8.4: exactly two)."""
    mount_point: AbsPath = Field(examples=["/var/lib/mysql"])
    """Where the Filesystem resource mounts the volume on the Primary."""
    fstype: Literal["xfs", "ext4"] = "xfs"
    """File system made on first promotion."""
    mount_options: str = Field(default="relatime", pattern=r"^[a-z0-9_=,]+$")
    """Mount options of the Filesystem resource."""
    link: int = Field(default=0, ge=0, description="which host address (cluster link) replicates")
    protocol: Literal["A", "B", "C"] = "C"
    """DRBD replication protocol: C (synchronous) unless you accept losing writes."""

    @property
    def device(self) -> str:
        return f"/dev/drbd{self.minor}"
