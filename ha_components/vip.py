"""OpenStackServiceVip: a Pacemaker-managed VIP and the services bound to it."""
from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from . import remote
from .drbd import DrbdStorage, DrbdVolume
from .models import Network, Vip, vip_interface
from .models.pacemaker import ResourcePolicy
from .pacemaker import CibCluster
from .render import FileSpec, render_template, stop_units
from .render.cib import CibChange, Colocation, Group, Op, Order, Primitive
from .types import Token


@dataclass(frozen=True)
class Endpoint:
    """A keystone endpoint registered on the VIP."""

    name: str  # keystone service name, e.g. "glance"
    type: str  # catalog type, e.g. "image"
    interface: str  # public / internal / admin
    url: str


@dataclass(frozen=True)
class UnitSet:
    """Active/active: units (re)started together, when one of `files` (paths among the node's
    files) changes - a project's units follow its own config only."""
    name: str
    units: list[str]
    files: list[str]
    after: tuple[str, ...] = ()  # sets started before this one (start_units)
    ports: tuple[int, ...] = ()  # HTTP ports its units serve: answering before the next node restarts


@dataclass
class ServiceVipArgs:
    vip: Vip | None  # None: a group of services without an address (the seed's g_services_network)
    networks: list[Network]
    cluster: CibCluster  # a PacemakerCluster, or the package's reference to one
    # Active/passive: the services Pacemaker runs with the VIP, in start order.
    services: list[Primitive] = field(default_factory=list)
    # A DRBD filesystem mounted before the services, on the node where the volume is promoted.
    storage: DrbdVolume | DrbdStorage | None = None
    group_id: str | None = None
    # Active/active: the VIP follows this clone (e.g. a cloned HAProxy) instead of owning services.
    colocate_with: str | None = None
    # What every cluster node needs before the services start: packages (their units are left
    # to Pacemaker), config fragments binding the VIP, then per-node scripts (name -> script).
    packages: list[str] = field(default_factory=list)
    files: list[FileSpec] = field(default_factory=list)
    node_scripts: dict[str, str] = field(default_factory=dict)
    # Keystone endpoints to register on the VIP, with an openrc file holding admin credentials.
    endpoints: list[Endpoint] = field(default_factory=list)
    admin_openrc: FileSpec | None = None
    region: str = "RegionOne"
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    # Active/active: the services run under systemd on every node, not under Pacemaker. Their
    # units stay enabled, get per-node files (host name -> files, e.g. the node address they
    # bind) and are (re)started, after files and node scripts, whenever those files change.
    systemd_units: list[UnitSet] = field(default_factory=list)
    node_files: dict[str, list[FileSpec]] = field(default_factory=dict)
    # host name -> the address its services bind: where a unit set's ports must answer HTTP
    # before the next node restarts its own (none given: no wait).
    bind_addresses: dict[str, str] = field(default_factory=dict)


def vip_primitive(name: str, vip: Vip, networks: list[Network], policy: ResourcePolicy = ResourcePolicy()) -> Primitive:
    iface = vip_interface(vip, networks)
    params = {"ip": str(iface.ip), "cidr_netmask": str(iface.network.prefixlen)}
    if vip.nic:
        params["nic"] = vip.nic
    # pacemaker.resources: a 30 s monitor with a 60 s timeout by default (Pacemaker's 20 s
    # default timed the monitor out on a loaded node, restarting the group).
    start_stop = policy.vip_start_stop_timeout
    return Primitive(f"p_ip_{name}", "ocf:heartbeat:IPaddr2", params, ops=(
        *((Op("start", timeout=start_stop), Op("stop", timeout=start_stop)) if start_stop else ()),
        Op("monitor", policy.vip_monitor_interval, timeout=policy.vip_monitor_timeout)))


def service_vip_cib(name: str, args: ServiceVipArgs) -> CibChange:
    ip = vip_primitive(name, args.vip, args.networks, args.cluster.spec.resources) if args.vip else None
    if args.colocate_with:
        if ip is None:
            raise ValueError(f"{name}: colocate_with needs a vip")
        return CibChange(name, resources=(ip,), constraints=(
            Colocation(f"c_{ip.id}_with_{args.colocate_with}", ip.id, args.colocate_with),
            Order(f"o_{args.colocate_with}_before_{ip.id}", args.colocate_with, ip.id, kind="Optional"),
        ))
    members = ([ip] if ip else []) + ([args.storage.filesystem] if args.storage else []) + args.services
    group = Group(args.group_id or f"g_{name}", tuple(members))
    constraints: tuple[Colocation | Order, ...] = ()
    if args.storage:
        clone = args.storage.promoted_clone
        constraints = (
            Colocation(f"c_{group.id}_on_drbd", group.id, clone, with_rsc_role="Promoted"),
            Order(f"o_drbd_before_{group.id}", clone, group.id, first_action="promote"),
        )
    return CibChange(name, resources=(group,), constraints=constraints)


class OpenStackServiceVip(pulumi.ComponentResource):
    def __init__(self, name: str, args: ServiceVipArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(Token.OPENSTACK_SERVICE_VIP, name, None, opts)
        cluster = args.cluster
        self._name, self._cluster, self._bind_addresses = name, cluster, args.bind_addresses
        self._node_files: dict[str, list[FileSpec]] = {}
        prepared: list[pulumi.Resource] = []
        # The same unit set on the previous node: restarts roll through the nodes one at a
        # time, so a changed file (a grown cluster's server lists) never stops a service everywhere.
        self._previous: dict[str, pulumi.Resource] = {}
        for node in cluster.nodes:
            n = f"{name}-{node.name}"
            ready = [cluster.ready, *args.depends_on]
            pkgs = [remote.run(f"{n}-packages", node, render_template(
                "scripts/packages.sh.j2", packages=args.packages,
                disable_units=[] if args.systemd_units else args.packages),
                parent=self, depends_on=ready)] if args.packages else []
            node_files = [*args.files, *args.node_files.get(node.name, [])]
            files = [remote.push_file(f"{n}-{remote.slug(f.path)}", node, f.path, f.content, parent=self,
                                      depends_on=ready + pkgs, mode=f.mode, owner=f.owner, group=f.group,
                                      secret=f.secret) for f in node_files]
            scripts = [remote.run(f"{n}-{script_name}", node, script, parent=self,
                                  depends_on=ready + pkgs + files)
                       for script_name, script in args.node_scripts.items()]
            self._node_files[node.name] = node_files
            units = [self._units_on(node, s, ready + pkgs + files + scripts) for s in args.systemd_units]
            prepared += pkgs + files + scripts + units
        deps = [*args.depends_on, *prepared] + ([args.storage.cib] if args.storage else [])
        self.cib = cluster.cib_change(service_vip_cib(name, args), parent=self, depends_on=deps)
        # The admin openrc on the first node: for the endpoints, the readiness check and the operator.
        self.openrc: pulumi.Resource | None = None
        if args.admin_openrc is not None:
            self.openrc = remote.push_file(f"{name}-admin-openrc", cluster.cib_node, args.admin_openrc.path,
                                           args.admin_openrc.content, parent=self, mode="0600", secret=True,
                                           depends_on=[cluster.ready])
        self.endpoints: pulumi.Resource | None = None
        if args.endpoints:
            if self.openrc is None or args.admin_openrc is None:
                raise ValueError(f"{name}: endpoints need admin_openrc")
            self.endpoints = remote.run(f"{name}-endpoints", cluster.cib_node, render_template(
                "scripts/keystone-endpoints.sh.j2", openrc=args.admin_openrc.path, region=args.region,
                endpoints=args.endpoints, timeout_seconds=300), parent=self, depends_on=[self.cib, self.openrc])

        iface = vip_interface(args.vip, args.networks) if args.vip else None
        self.address = pulumi.Output.from_input(remote.resolve(str(iface.ip)) if iface else None)
        self.cidr = pulumi.Output.from_input(remote.resolve(str(iface)) if iface else None)
        self.register_outputs({"address": self.address, "cidr": self.cidr})

    def start_units(self, unit_sets: list[UnitSet], depends_on: list[pulumi.Resource]) -> list[pulumi.Resource]:
        """Active/active: start more units on every node after `depends_on` (e.g. the services
        that need their database schema), restarted like the first ones when their files change.
        A set starts after the sets named in its `after` on the same node."""
        started: list[pulumi.Resource] = []
        for node in self._cluster.nodes:
            on_node: dict[str, pulumi.Resource] = {}
            for s in unit_sets:  # in order: a set's `after` come before it
                on_node[s.name] = self._units_on(node, s, [*depends_on, *(on_node[a] for a in s.after if a in on_node)])
            started += on_node.values()
        return started

    def _units_on(self, node: remote.RemoteHost, unit_set: UnitSet,
                  depends_on: list[pulumi.Resource]) -> pulumi.Resource:
        watched = [f for f in self._node_files[node.name] if f.path in unit_set.files]
        previous = self._previous.get(unit_set.name)
        script = render_template("scripts/systemd-units.sh.j2", units=unit_set.units, reload=False)
        address = self._bind_addresses.get(node.name)
        if unit_set.ports and address:
            script += render_template("scripts/http-ready.sh.j2", address=address, ports=unit_set.ports,
                                      timeout_seconds=300)
        units = remote.run(f"{self._name}-{node.name}-{unit_set.name}", node, script, parent=self,
            depends_on=[*depends_on, *([previous] if previous else [])], triggers=[remote.content_hash(
                pulumi.Output.secret("".join(f.path + "\0" + f.content for f in watched)))],
            delete=stop_units(*unit_set.units))
        self._previous[unit_set.name] = units
        return units
