"""The components as the package serves them: typed args in, the SDK's components out.

Each served component is the SDK's own class under the same name and type token, with an
`__init__` that takes the package's TypedDict args, validates them into the models and hands
them on; nothing is built twice. Its class annotations are its outputs in the schema.
The two topologies are components of their own: their args are a stack file's keys.

No `from __future__ import annotations` here: the host reads these annotations at run time.
"""
from typing import Any, Optional

import pulumi

from .. import galera, pacemaker, rabbitmq
from ..models import GaleraSpec, Host, PacemakerSpec, RabbitSpec
from ..topologies import build
from ..types import Token
from .args import GaleraClusterArgs, PacemakerClusterArgs, RabbitHAClusterArgs, TopologyArgs, to_model, to_stack


def _hosts(args: Any) -> list[Host]:
    return [to_model(Host, h, ("hosts", i)) for i, h in enumerate(args["hosts"])]


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
    PacemakerCluster, GaleraCluster, RabbitHACluster, ActiveActiveTopology, ActivePassiveTopology]
