"""PacemakerCluster: corosync 3 (knet) + pacemaker, properties, fencing, and the CIB API."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import pulumi
import pulumi_command.remote as command

from . import remote
from .models import Host, PacemakerSpec
from .render import render_template, static_file
from .render.cib import CibChange
from .render.corosync import corosync_conf, node_ids
from .render.pacemaker import cluster_cib, with_resource_policy
from .types import Token

CIB_HELPER = "/usr/local/sbin/ha-cib-apply"
COROSYNC_CONF = "/etc/corosync/corosync.conf"


@dataclass
class PacemakerClusterArgs:
    spec: PacemakerSpec
    hosts: list[Host]  # the cluster nodes, in spec.nodes order
    ready_timeout_seconds: int = 300
    # Nodes leaving the cluster in this `up` (the stack's `leaving`): dropped from corosync.conf
    # and then from Pacemaker's node list (their own leave steps run first: remote.after).
    departed: list[str] = field(default_factory=list)


class CibCluster:
    """A cluster as the other components use it: `spec`, its `nodes` (connections, in spec.nodes
    order), the `cib_node`, the `ready` resource and `cib_change`. PacemakerCluster is one; the
    package builds one from a cluster reference (ha_components.package.refs). No class-level
    annotations: the package's schema reads those of served classes as outputs."""

    def __init__(self, spec: PacemakerSpec, nodes: list[remote.RemoteHost], ready: pulumi.Resource):
        self.spec, self.nodes, self.cib_node, self.ready = spec, nodes, nodes[0], ready

    def cib_change(
        self,
        change: CibChange,
        *,
        parent: pulumi.Resource,
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> command.Command:
        """Apply `change` as one staged diff from the CIB node; destroying it removes its objects.
        Its primitives get the stack's recovery policy (pacemaker.resources)."""
        change = with_resource_policy(change, self.spec.resources)
        # PacemakerCluster: every change after its own (`base`), which sets the properties.
        after = [self.ready] + ([self.base] if hasattr(self, "base") else []) + list(depends_on)
        return remote.run(
            f"{change.owner}-cib", self.cib_node,
            render_template("scripts/cib-apply.sh.j2", owner=change.owner),
            parent=parent, depends_on=after, stdin=change.to_xml(), secret=change.has_secrets,
            delete=render_template("scripts/cib-remove.sh.j2", owner=change.owner),
        )


class PacemakerCluster(pulumi.ComponentResource, CibCluster):
    """A running, quorate cluster; other components add CIB objects through `cib_change`."""

    def __init__(self, name: str, args: PacemakerClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(Token.PACEMAKER_CLUSTER, name, None, opts)
        self.name = name
        self.spec = args.spec
        self.nodes = [remote.connect(h) for h in args.hosts]
        self.cib_node = self.nodes[0]
        conf = corosync_conf(args.spec, args.hosts)
        packages = render_template("scripts/packages.sh.j2", packages=args.spec.packages,
                                   disable_units=["corosync", "pacemaker"])

        confs, starts = [], []
        for node in self.nodes:
            n = f"{name}-{node.name}"
            pkgs = remote.run(f"{n}-packages", node, packages, parent=self)
            members = remote.run(f"{n}-members-check", node, render_template(
                "scripts/corosync-members-check.sh.j2", conf=COROSYNC_CONF, wanted=node_ids(args.hosts),
                departed=args.departed), parent=self)
            corosync = remote.push_file(f"{n}-corosync-conf", node, COROSYNC_CONF, conf,
                                        parent=self, depends_on=[pkgs, members], keep_on_delete=True)
            authkey = remote.push_file(f"{n}-authkey", node, "/etc/corosync/authkey",
                                       args.spec.authkey.get_secret_value(), parent=self,
                                       depends_on=[pkgs], mode="0400", secret=True, base64_content=True,
                                       keep_on_delete=True)
            helper = remote.push_file(f"{n}-cib-helper", node, CIB_HELPER, static_file("ha-cib-apply"),
                                      parent=self, depends_on=[pkgs], mode="0755")
            confs.append(corosync)
            starts.append(remote.run(f"{n}-start", node, render_template("scripts/cluster-start.sh.j2"),
                                     parent=self, depends_on=[corosync, authkey, helper],
                                     delete=render_template("scripts/cluster-stop.sh.j2")))
        # A changed corosync.conf is re-read by the running cluster: no restart.
        reload_script = render_template("scripts/corosync-reload.sh.j2", timeout_seconds=120)
        reload: pulumi.Resource = remote.run(f"{name}-corosync-reload", self.cib_node, reload_script, parent=self,
                                             depends_on=starts, triggers=[remote.content_hash(conf)])
        if args.departed:
            reload = remote.run(f"{name}-forget", self.cib_node, render_template(
                "scripts/cluster-forget.sh.j2", departed=args.departed), parent=self, depends_on=[reload])
        self.ready = remote.run(f"{name}-ready", self.cib_node, render_template(
            "scripts/cluster-wait.sh.j2", cluster_name=args.spec.cluster_name,
            node_count=len(self.nodes), timeout_seconds=args.ready_timeout_seconds),
            parent=self, depends_on=[reload])
        self.base = self.cib_change(cluster_cib(name, args.spec), parent=self)

        self.cluster_name = pulumi.Output.from_input(args.spec.cluster_name)
        self.node_names = pulumi.Output.from_input([n.name for n in self.nodes])
        self.register_outputs({"cluster_name": self.cluster_name, "nodes": self.node_names})
