"""GaleraCluster: MariaDB + galera-4, one bootstrap, joiners one at a time, a health endpoint."""
from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from . import remote
from .models import Host
from .models.galera import GaleraSpec
from .render import render_template, static_file, stop_units
from .render.galera import (CONFIG_PATH, CONFIG_STAMP, GARB_DEFAULTS, HEALTH_SCRIPT, HEALTH_SERVICE, HEALTH_UNIT,
                            MEMBERS_PATH, OLD_HEALTH_UNITS, RECOVER_SCRIPT, SST_CONFIG_PATH, accounts_sql,
                            galera_cnf, galera_members_cnf, galera_sst_cnf, garb_defaults, health_service,
                            node_address)
from .render.openstack import database_sql, sqlalchemy_url
from .types import Token

# A clean shutdown: the node leaves the cluster and keeps its data.
STOP_SCRIPT = stop_units("mariadb")
PACKAGES = ["mariadb-server", "mariadb-client", "galera-4", "mariadb-backup", "rsync", "socat",
            "python3"]  # python3: the health endpoint


@dataclass
class GaleraClusterArgs:
    spec: GaleraSpec
    hosts: list[Host]  # the Galera nodes, in spec.nodes order: hosts[0] bootstraps
    # Where clients reach the database: the HAProxy VIP (its `galera` listener).
    vip_address: str
    # Addresses allowed to query the health endpoint: the load balancers (and the VIP).
    health_allowed_from: list[str]
    vip_port: int = 3306
    # user -> password: the OpenStack projects' database users (passwords are secrets)...
    users: dict[str, str] = field(default_factory=dict)
    # ...and database -> its user (nova has three databases); default: one per user.
    databases: dict[str, str] | None = None
    arbitrator: Host | None = None


class GaleraCluster(pulumi.ComponentResource):
    """Synced on every node when done: `ready` is the wsrep_cluster_size check.

    Recovery after a full shutdown is an operator command using the same stack file:
    `python -m ha_components galera-recover STACKFILE` (runs ha-galera-recover on the nodes).
    """

    def __init__(self, name: str, args: GaleraClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(Token.GALERA_CLUSTER, name, None, opts)
        spec = args.spec
        nodes = [remote.connect(h) for h in args.hosts]
        allowed = list(dict.fromkeys([*args.health_allowed_from, "127.0.0.1"]))  # in the given order
        peers = [node_address(spec, h) for h in args.hosts]

        members_cnf = galera_members_cnf(spec, args.hosts)
        prepared: dict[str, list[pulumi.Resource]] = {}
        health_script = static_file("ha-galera-health")
        self.health: list[pulumi.Resource] = []
        for host, node in zip(args.hosts, nodes):
            n = f"{name}-{node.name}"
            pkgs = remote.run(f"{n}-packages", node, render_template(
                "scripts/packages.sh.j2", packages=PACKAGES, disable_units=[]), parent=self)
            conf = remote.push_file(f"{n}-config", node, CONFIG_PATH, galera_cnf(spec, host),
                                    parent=self, depends_on=[pkgs], keep_on_delete=True)
            # Not in the rolling restart's stamp: growing the cluster restarts no running node.
            members_file = remote.push_file(f"{n}-members", node, MEMBERS_PATH, members_cnf, parent=self,
                                            depends_on=[pkgs], keep_on_delete=True)
            sst = remote.push_file(f"{n}-sst-config", node, SST_CONFIG_PATH, galera_sst_cnf(spec),
                                   parent=self, depends_on=[pkgs], mode="0640", group="mysql", secret=True,
                                   keep_on_delete=True)
            recover = remote.push_file(f"{n}-recover-script", node, RECOVER_SCRIPT,
                                       static_file("ha-galera-recover"), parent=self, depends_on=[pkgs],
                                       mode="0755")
            prepared[node.name] = [conf, members_file, sst, recover]
            # The health endpoint HAProxy checks: one process per node, node address only. The
            # nodes' endpoints are (re)started one at a time: never all checks down at once.
            script = remote.push_file(f"{n}-health-script", node, HEALTH_SCRIPT, health_script,
                                      parent=self, depends_on=[pkgs], mode="0755")
            service_unit = health_service(spec, host, allowed)
            service = remote.push_file(f"{n}-health-service", node, HEALTH_SERVICE, service_unit,
                                       parent=self, depends_on=[pkgs])
            self.health.append(remote.run(
                f"{n}-health", node, render_template("scripts/systemd-units.sh.j2", units=[HEALTH_UNIT],
                                                     reload=False, replaces=OLD_HEALTH_UNITS),
                parent=self, depends_on=[script, service, *self.health[-1:]],
                triggers=[remote.content_hash(health_script + service_unit)],
                delete=stop_units(HEALTH_UNIT) + " || true"))

        # Bootstrap exactly one node, then the accounts (the SST user must exist on the donor
        # before anyone joins), then each joiner only after the previous one is Synced.
        first = nodes[0]
        # Destroy stops the nodes in reverse order, the bootstrap node last: it is then the
        # one Galera marks safe_to_bootstrap, and a later `up` starts the cluster from it.
        self.bootstrap = remote.run(f"{name}-{first.name}-start", first, self._start_script(
            spec, first.name, peers[1:], bootstrap=True), parent=self, depends_on=prepared[first.name],
            delete=STOP_SCRIPT)
        databases = args.databases if args.databases is not None else {u: u for u in args.users}
        sql = accounts_sql(spec, database_sql(databases, args.users))
        self.accounts = remote.run(
            f"{name}-accounts", first, render_template("scripts/galera-accounts.sh.j2",
                                                       timeout_seconds=spec.timeout_seconds),
            parent=self, depends_on=[self.bootstrap], stdin=sql,
            secret=True)
        previous: pulumi.Resource = self.accounts
        self.joins: list[pulumi.Resource] = []
        for node in nodes[1:]:
            previous = remote.run(f"{name}-{node.name}-start", node, self._start_script(
                spec, node.name, [], bootstrap=False), parent=self,
                depends_on=[previous, *prepared[node.name]], delete=STOP_SCRIPT)
            self.joins.append(previous)
        members = len(nodes)
        if args.arbitrator is not None:
            arb = remote.connect(args.arbitrator)
            n = f"{name}-{arb.name}-arbitrator"
            pkgs = remote.run(f"{n}-packages", arb, render_template(
                "scripts/packages.sh.j2", packages=["galera-arbitrator-4"], disable_units=[]), parent=self)
            defaults = garb_defaults(spec, args.hosts)
            conf = remote.push_file(f"{n}-defaults", arb, GARB_DEFAULTS, defaults, parent=self,
                                    depends_on=[pkgs])
            previous = remote.run(f"{n}-start", arb, render_template(
                "scripts/systemd-units.sh.j2", units=["garb"], reload=False), parent=self,
                depends_on=[conf, previous], triggers=[remote.content_hash(defaults)])
            members += 1
        self.size_check = remote.run(f"{name}-cluster-size", first, render_template(
            "scripts/galera-wait-size.sh.j2", size=members, cluster_name=spec.cluster_name,
            timeout_seconds=spec.timeout_seconds), parent=self, depends_on=[previous, *self.health])
        # A changed config is applied by a rolling restart, one node at a time, each back to
        # Synced before the next (a no-op when nothing changed since the node started).
        previous = self.size_check
        for host, node in zip(args.hosts, nodes):
            previous = remote.run(f"{name}-{node.name}-rolling-restart", node, render_template(
                "scripts/rolling-restart.sh.j2", service="mariadb", stamp=CONFIG_STAMP,
                files=[CONFIG_PATH, SST_CONFIG_PATH], wait=self._wait_synced(spec, node.name)),
                parent=self, depends_on=[previous],
                triggers=[remote.content_hash(pulumi.Output.secret(
                    galera_cnf(spec, host) + galera_sst_cnf(spec)))])
        self.ready = previous

        self.cluster_name = pulumi.Output.from_input(spec.cluster_name)
        self.size = pulumi.Output.from_input(members)
        self.address = pulumi.Output.from_input(remote.resolve(f"{args.vip_address}:{args.vip_port}"))
        # Through the VIP (HAProxy's galera listener: one writer, the others backups).
        self.database_urls = pulumi.Output.secret(remote.resolve({
            db: sqlalchemy_url(user, args.users[user], host_port(args.vip_address, args.vip_port), db)
            for db, user in databases.items()}))
        self.register_outputs({"cluster_name": self.cluster_name, "size": self.size,
                               "address": self.address, "database_urls": self.database_urls})

    @staticmethod
    def _start_script(spec: GaleraSpec, node: str, peers: list[str], *, bootstrap: bool) -> str:
        return render_template("scripts/galera-start.sh.j2", cluster_name=spec.cluster_name, node=node,
                               peers=peers, bootstrap=bootstrap, timeout_seconds=spec.timeout_seconds,
                               stamp=CONFIG_STAMP, files=[CONFIG_PATH, SST_CONFIG_PATH])

    @staticmethod
    def _wait_synced(spec: GaleraSpec, node: str) -> str:
        return render_template("scripts/galera-wait-synced.sh.j2", node=node,
                               timeout_seconds=spec.timeout_seconds)


def host_port(host: str, port: int) -> str:
    """`host` or `host:port` for a database URL (3306 is MariaDB's default)."""
    return host if port == 3306 else f"{host}:{port}"
