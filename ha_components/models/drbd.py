"""DRBD replicated volumes (seed chapter 2: the mysql and rabbitmq resources)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import AbsPath, Name, StrictModel


class DrbdVolumeSpec(StrictModel):
    name: Name
    minor: int = Field(ge=0, le=1048575)
    port: int = Field(ge=1024, le=65535)
    disk: AbsPath  # backing block device on every node, e.g. an LVM volume
    # The in-kernel module is DRBD 8.4: exactly two nodes per resource.
    nodes: list[Name] = Field(min_length=2, max_length=2)
    mount_point: AbsPath
    fstype: Literal["xfs", "ext4"] = "xfs"
    mount_options: str = Field(default="relatime", pattern=r"^[a-z0-9_=,]+$")
    link: int = Field(default=0, ge=0, description="which host address (cluster link) replicates")
    protocol: Literal["A", "B", "C"] = "C"

    @property
    def device(self) -> str:
        return f"/dev/drbd{self.minor}"
