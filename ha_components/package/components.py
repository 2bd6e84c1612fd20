"""The components as the package serves them: typed args in, the SDK's components out.

Each served component is the SDK's own class under the same name and type token, with an
`__init__` that takes the package's TypedDict args, validates them into the models and hands
them on; nothing is built twice. Its class annotations are its outputs in the schema.
DrbdVolume, HaproxyFrontend and OpenStackServiceVip take the cluster (and the volume) they
build on as a reference (refs.py). The two topologies are components of their own: their args are a stack file's keys.

No `from __future__ import annotations` here: the host reads these annotations at run time.
"""
from typing import Any, Optional

import pulumi
from pydantic import SecretStr

from .. import drbd, galera, haproxy, pacemaker, rabbitmq, vip
from ..models import DrbdVolumeSpec, GaleraSpec, HaproxySpec, Host, Listener, Network, PacemakerSpec, RabbitSpec, Vip
from ..models.haproxy import PlannedListener, Server
from ..render import FileSpec
from ..render.cib import Op, Primitive
from ..topologies import build
from ..types import Token
from .args import (DrbdVolumeArgs, GaleraClusterArgs, HaproxyFrontendArgs, OpenStackServiceVipArgs, PacemakerClusterArgs,
                   RabbitHAClusterArgs, TopologyArgs, to_model, to_stack)
from .refs import cluster_of, storage_of


def _hosts(args: Any) -> list[Host]:
    return [to_model(Host, h, ("hosts", i)) for i, h in enumerate(args["hosts"])]


def _list(args: Any, key: str) -> list[Any]:
    return list(args.get(key) or [])


def _depends_on(opts: Optional[pulumi.ResourceOptions]) -> list[pulumi.Resource]:
    """The component's dependsOn (in construct: the program's resources, by URN)."""
    deps = opts.depends_on if opts else None
    return list(deps) if isinstance(deps, (list, tuple)) else [deps] if isinstance(deps, pulumi.Resource) else []


def _files(args: Any, key: str) -> list[FileSpec]:
    return [FileSpec(**f) for f in _list(args, key)]


def _primitive(p: Any) -> Primitive:
    params: dict[str, Any] = {**p.get("params", {}), **{k: SecretStr(v) for k, v in p.get("secret_params", {}).items()}}
    return Primitive(p["id"], p["agent"], params, tuple(Op(**o) for o in p.get("ops", [])), dict(p.get("meta", {})))


def _listener(item: Any, i: int) -> PlannedListener:
    servers = tuple(Server(**{**s, "port": int(s["port"])}) for s in item["servers"])  # numbers arrive as floats
    check = item.get("check_port")
    # As a seed listener's (haproxy.listeners): the one named galera gets spec.galera_check.
    return PlannedListener(item["name"], ("haproxy", "listeners", i), (item["bind_address"], int(item["bind_port"])), servers,
                           to_model(Listener, item["spec"], ("listeners", i, "spec")),
                           int(check) if check is not None else None, bool(item.get("tls", False)))


class PacemakerCluster(pacemaker.PacemakerCluster):
    """A running, quorate Pacemaker/Corosync 3 cluster with its properties and fencing."""

    cluster_name: pulumi.Output[str]
    """The corosync cluster name."""
    node_names: pulumi.Output[list[str]]
    """The cluster's nodes."""

    def __init__(self, name: str, args: PacemakerClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, pacemaker.PacemakerClusterArgs(
            to_model(PacemakerSpec, args["spec"], ("spec",)), _hosts(args),
            int(args.get("ready_timeout_seconds", 300))), opts)  # numbers arrive as floats


class GaleraCluster(galera.GaleraCluster):
    """MariaDB Galera, Synced on every node, with a health endpoint for HAProxy."""

    cluster_name: pulumi.Output[str]
    """The wsrep cluster name."""
    size: pulumi.Output[int]
    """The number of Galera members (data nodes and arbitrator)."""
    address: pulumi.Output[str]
    """Where clients reach the database: VIP:port."""
    database_urls: pulumi.Output[dict[str, str]]
    """Database -> SQLAlchemy URL through the VIP (secret)."""

    def __init__(self, name: str, args: GaleraClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        arbitrator = args.get("arbitrator")
        super().__init__(name, galera.GaleraClusterArgs(
            to_model(GaleraSpec, args["spec"], ("spec",)), _hosts(args), vip_address=args["vip_address"],
            health_allowed_from=list(args["health_allowed_from"]), vip_port=int(args.get("vip_port", 3306)),
            users=dict(args.get("users") or {}),  # type: ignore[arg-type]  # resolved by the host
            databases=dict(args["databases"]) if args.get("databases") else None,  # type: ignore[arg-type]
            arbitrator=to_model(Host, arbitrator, ("arbitrator",)) if arbitrator else None), opts)


class RabbitHACluster(rabbitmq.RabbitHACluster):
    """A RabbitMQ cluster (quorum queues by default) and the oslo.messaging settings to use it."""

    transport_url: pulumi.Output[str]
    """oslo.messaging transport_url listing every node (secret)."""
    settings: pulumi.Output[dict[str, dict[str, str]]]
    """[oslo_messaging_rabbit] settings the services need besides transport_url."""
    nodes: pulumi.Output[list[str]]
    """The broker nodes."""

    def __init__(self, name: str, args: RabbitHAClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, rabbitmq.RabbitHAClusterArgs(
            to_model(RabbitSpec, args["spec"], ("spec",)), _hosts(args)), opts)


class DrbdVolume(drbd.DrbdVolume):
    """A DRBD volume with a filesystem, promoted by the Pacemaker cluster it names."""

    device: pulumi.Output[str]
    """The DRBD device."""
    mount_point: pulumi.Output[str]
    """Where the filesystem is mounted on the promoted node."""
    promoted_clone: pulumi.Output[str]
    """The promotable clone's id, which a service group colocates with."""
    filesystem_resource: pulumi.Output[str]
    """The filesystem primitive's id, which a service group mounts."""

    def __init__(self, name: str, args: DrbdVolumeArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, drbd.DrbdVolumeArgs(
            to_model(DrbdVolumeSpec, args["spec"], ("spec",)), _hosts(args), cluster_of(args["cluster"], ("cluster",)),
            initial_data=args.get("initial_data"), initial_data_after=_depends_on(opts),
            packages=_list(args, "packages"), disable_units=_list(args, "disable_units"),
            files=_files(args, "files"), timeout_seconds=int(args.get("timeout_seconds", 300))), opts)
        self.filesystem_resource = pulumi.Output.from_input(self.filesystem.id)


class HaproxyFrontend(haproxy.HaproxyFrontend):
    """HAProxy on every load balancer, cloned by Pacemaker, its config checked before a reload."""

    clone_id: pulumi.Output[str]
    """The clone a VIP follows (OpenStackServiceVip colocateWith)."""
    listeners: pulumi.Output[dict[str, str]]
    """Listener -> address:port."""
    stats_urls: pulumi.Output[list[str]]
    """HAProxy's stats pages, one per load balancer."""
    ca_certificate: pulumi.Output[str]
    """spec.tls: the CA certificate clients trust."""

    def __init__(self, name: str, args: HaproxyFrontendArgs, opts: Optional[pulumi.ResourceOptions] = None):
        public_vip = args.get("public_vip")
        super().__init__(name, haproxy.HaproxyFrontendArgs(
            to_model(HaproxySpec, args["spec"], ("spec",)), _hosts(args),
            [_listener(item, i) for i, item in enumerate(args["listeners"])], cluster_of(args["cluster"], ("cluster",)),
            public_vip=to_model(Vip, public_vip, ("public_vip",)) if public_vip else None,
            networks=[to_model(Network, n, ("networks", i)) for i, n in enumerate(_list(args, "networks"))]), opts)


class OpenStackServiceVip(vip.OpenStackServiceVip):
    """A Pacemaker-managed VIP and the services bound to it (a group, or following a clone)."""

    address: pulumi.Output[str]
    """The VIP's address."""
    cidr: pulumi.Output[str]
    """The VIP with its network's prefix."""

    def __init__(self, name: str, args: OpenStackServiceVipArgs, opts: Optional[pulumi.ResourceOptions] = None):
        address, storage, openrc = args.get("vip"), args.get("storage"), args.get("admin_openrc")
        storage = storage_of(storage, ("storage",)) if storage else None  # checked before the cluster's connections
        super().__init__(name, vip.ServiceVipArgs(
            to_model(Vip, address, ("vip",)) if address else None,
            [to_model(Network, n, ("networks", i)) for i, n in enumerate(args["networks"])],
            cluster_of(args["cluster"], ("cluster",)),
            services=[_primitive(p) for p in _list(args, "services")],
            storage=storage,
            group_id=args.get("group_id"), colocate_with=args.get("colocate_with"),
            packages=_list(args, "packages"), files=_files(args, "files"),
            node_scripts=dict(args.get("node_scripts") or {}),
            endpoints=[vip.Endpoint(**e) for e in _list(args, "endpoints")],
            admin_openrc=FileSpec(**openrc) if openrc else None, region=args.get("region", "RegionOne"),
            depends_on=_depends_on(opts),
            systemd_units=[vip.UnitSet(**{**u, "after": tuple(u.get("after", ())), "ports": tuple(u.get("ports", ()))})
                           for u in _list(args, "systemd_units")],
            node_files={host: [FileSpec(**f) for f in files] for host, files in (args.get("node_files") or {}).items()},
            bind_addresses=dict(args.get("bind_addresses") or {})),
            opts)


class _Topology(pulumi.ComponentResource):
    """A whole topology from a stack's config; its outputs are the stack program's."""

    _topology: str
    cluster_name: pulumi.Output[str]
    """The Pacemaker cluster's name."""
    api_vip: pulumi.Output[str]
    """The API VIP."""
    keystone_url: pulumi.Output[str]
    """Keystone's public endpoint."""
    transport_url: pulumi.Output[str]
    """oslo.messaging transport_url (secret)."""
    database_urls: pulumi.Output[dict[str, str]]
    """Project -> SQLAlchemy URL (secret)."""

    def __init__(self, token: str, name: str, args: Any, opts: Optional[pulumi.ResourceOptions]):
        stack = to_stack(self._topology, args)  # invalid args: an error naming the field, nothing registered
        super().__init__(token, name, None, opts)
        outputs = build(stack, parent=self)
        for key, value in outputs.items():
            setattr(self, key, value)
        self.register_outputs(outputs)


class ActiveActiveTopology(_Topology):
    """The seed's chapter 3: Galera, a RabbitMQ cluster, HAProxy behind a Pacemaker VIP, memcached
    and the OpenStack services on every controller. Args: a stack file's `ha-openstack:` keys."""

    _topology = "active-active"
    haproxy_stats: pulumi.Output[list[str]]
    """HAProxy's stats pages, one per load balancer."""
    galera_cluster_size: pulumi.Output[int]
    """The number of Galera members."""
    rabbitmq_nodes: pulumi.Output[list[str]]
    """The broker nodes."""
    memcached_servers: pulumi.Output[list[str]]
    """oslo.cache's memcache_servers."""
    oslo_messaging_settings: pulumi.Output[dict[str, dict[str, str]]]
    """[oslo_messaging_rabbit] settings."""

    def __init__(self, name: str, args: TopologyArgs, opts: Optional[pulumi.ResourceOptions] = None):  # type: ignore[valid-type]
        super().__init__(Token.ACTIVE_ACTIVE_TOPOLOGY, name, args, opts)


class ActivePassiveTopology(_Topology):
    """The seed's chapter 2: Pacemaker with DRBD-backed MySQL and RabbitMQ behind their VIPs and
    the API services in a group on the API VIP. Args: a stack file's `ha-openstack:` keys."""

    _topology = "active-passive"
    database_vip: pulumi.Output[str]
    """The MySQL VIP."""
    messaging_vip: pulumi.Output[str]
    """The RabbitMQ VIP."""

    def __init__(self, name: str, args: TopologyArgs, opts: Optional[pulumi.ResourceOptions] = None):  # type: ignore[valid-type]
        super().__init__(Token.ACTIVE_PASSIVE_TOPOLOGY, name, args, opts)


COMPONENTS: list[type[pulumi.ComponentResource]] = [
    PacemakerCluster, DrbdVolume, GaleraCluster, RabbitHACluster, HaproxyFrontend, OpenStackServiceVip,
    ActiveActiveTopology, ActivePassiveTopology]
