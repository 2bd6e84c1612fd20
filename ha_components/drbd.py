"""DrbdVolume: a replicated block device with a filesystem, promoted by Pacemaker."""
from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from . import remote
from .models import DrbdVolumeSpec, Host
from .pacemaker import CibCluster
from .render import FileSpec, render_template
from .render.cib import Primitive
from .render.drbd import drbd_resource
from .render.drbd_cib import drbd_cib, drbd_ids, filesystem_primitive
from .types import Token


@dataclass
class DrbdVolumeArgs:
    spec: DrbdVolumeSpec
    hosts: list[Host]  # the volume's two nodes, in spec.nodes order
    cluster: CibCluster  # a PacemakerCluster, or the package's reference to one
    # Shell run once on the new filesystem (mounted at $MOUNT) before Pacemaker takes over,
    # e.g. `mysql_install_db --datadir="$MOUNT"`.
    initial_data: str | None = None
    # Resources the initial data needs on the first node (e.g. packages, a pushed cookie).
    initial_data_after: list[pulumi.Resource] = field(default_factory=list)
    # What the service on the volume needs on both nodes before the first promotion.
    packages: list[str] = field(default_factory=list)
    disable_units: list[str] = field(default_factory=list)
    files: list[FileSpec] = field(default_factory=list)
    timeout_seconds: int = 300


@dataclass(frozen=True)
class DrbdStorage:
    """What a service group uses of a volume (ServiceVipArgs.storage): a DrbdVolume has these;
    the package builds one from a volume reference (ha_components.package.refs)."""
    filesystem: Primitive
    promoted_clone: str
    cib: pulumi.Resource


class DrbdVolume(pulumi.ComponentResource):
    """Resource file, metadata, first promotion and mkfs; then the promotable clone in Pacemaker.

    The filesystem primitive is handed to the service group that mounts it
    (`filesystem`), with the clone to colocate with (`promoted_clone`).
    """

    def __init__(self, name: str, args: DrbdVolumeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(Token.DRBD_VOLUME, name, None, opts)
        spec = args.spec
        nodes = [remote.connect(h) for h in args.hosts]
        res = drbd_resource(spec, args.hosts)
        ups: list[pulumi.Resource] = []
        prepared: list[pulumi.Resource] = []
        for node in nodes:
            n = f"{name}-{node.name}"
            pkgs = remote.run(f"{n}-packages", node, render_template(
                "scripts/packages.sh.j2", packages=["drbd-utils", "xfsprogs", *args.packages],
                disable_units=args.disable_units), parent=self)
            files = [remote.push_file(f"{n}-{remote.slug(f.path)}", node, f.path, f.content, parent=self,
                                      depends_on=[pkgs], mode=f.mode, owner=f.owner, group=f.group,
                                      secret=f.secret) for f in args.files]
            prepared.extend(files)
            conf = remote.push_file(f"{n}-resource", node, f"/etc/drbd.d/{spec.name}.res", res,
                                    parent=self, depends_on=[pkgs], keep_on_delete=True)
            md = remote.run(f"{n}-create-md", node,
                            render_template("scripts/drbd-create-md.sh.j2", name=spec.name),
                            parent=self, depends_on=[conf])
            ups.append(remote.run(f"{n}-up", node, render_template("scripts/drbd-up.sh.j2", name=spec.name),
                                  parent=self, depends_on=[md], triggers=[remote.content_hash(res)]))
        ids = drbd_ids(spec)
        self.initialized = remote.run(f"{name}-initialize", nodes[0], render_template(
            "scripts/drbd-initialize.sh.j2", name=spec.name, device=spec.device, fstype=spec.fstype,
            drbd_primitive=ids["drbd"], initial_data=args.initial_data or "",
            timeout_seconds=args.timeout_seconds),
            parent=self, depends_on=[*ups, *prepared, args.cluster.ready, *args.initial_data_after])
        self.cib = args.cluster.cib_change(drbd_cib(name, spec, args.cluster.spec.nodes), parent=self,
                                           depends_on=[self.initialized])

        self.filesystem: Primitive = filesystem_primitive(spec)
        self.promoted_clone: str = ids["clone"]
        self.device = pulumi.Output.from_input(spec.device)
        self.mount_point = pulumi.Output.from_input(spec.mount_point)
        self.register_outputs({"device": self.device, "mount_point": self.mount_point,
                               "promoted_clone": self.promoted_clone,
                               "filesystem_resource": self.filesystem.id})
