"""Seed chapter 2: Pacemaker + DRBD-backed MySQL and RabbitMQ + the API VIP and service groups."""
from __future__ import annotations

from typing import Any

import pulumi

from .. import remote
from ..catalog import SERVICES, databases_of, packages_of
from ..drbd import DrbdVolume, DrbdVolumeArgs
from ..models import StackConfig
from ..pacemaker import PacemakerCluster, PacemakerClusterArgs
from ..render import FileSpec, render_template
from ..render.cib import Op, Primitive
from ..render.openstack import ADMIN_OPENRC, admin_openrc, database_sql, sqlalchemy_url, transport_url
from ..vip import OpenStackServiceVip, ServiceVipArgs
from .projects import (linked_options, project_fragments, service_endpoints, service_primitives, set_up_projects,
                       share_keystone_keys, unit_files)


def _on_active(resource: str, body: str) -> str:
    # The wait covers the resource's start (p_rabbitmq: up to 600 s).
    return render_template("scripts/on-active-node.sh.j2", resource=resource, body=body,
                           timeout_seconds=900)


def build_active_passive(stack: StackConfig, parent: pulumi.Resource | None = None) -> dict[str, Any]:
    """The topology's components, children of `parent` (the stack when None)."""

    def child() -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent)

    assert stack.database and stack.messaging and stack.openstack  # checked by validate_stack
    db, mq, ops = stack.database, stack.messaging, stack.openstack
    hosts = {h.name: h for h in stack.hosts}
    cluster = PacemakerCluster("cluster", PacemakerClusterArgs(
        stack.pacemaker, [hosts[n] for n in stack.pacemaker.nodes]), child())

    def on_drbd(name: str, vip_name: str, volume_name: str, service: Primitive, packages: list[str],
                files: list[FileSpec], initial_data: str) -> OpenStackServiceVip:
        """The seed's pattern: a DRBD volume, and a group of VIP, filesystem and service on it."""
        vol = stack.volume(volume_name)
        volume = DrbdVolume(f"drbd-{vol.name}", DrbdVolumeArgs(
            vol, [hosts[n] for n in vol.nodes], cluster, packages=packages,
            disable_units=[service.agent.removeprefix("systemd:")], files=files, initial_data=initial_data), child())
        return OpenStackServiceVip(name, ServiceVipArgs(
            stack.vip(vip_name), stack.networks, cluster, storage=volume, group_id=f"g_{name}",
            services=[service]), child())

    # MySQL on DRBD behind its VIP (seed: p_ip_mysql, p_fs_mysql, p_mysql in g_mysql).
    # A systemd monitor is a D-Bus query to systemd: on a loaded node it took over 30 s, the
    # timed-out monitor became a stop, and a failed stop fences the node (as for RabbitMQ: 60 s).
    db_vip, db_vol = stack.vip(db.vip), stack.volume(db.volume)
    mysql = on_drbd("mysql", db.vip, db.volume, Primitive("p_mysql", "systemd:mariadb", ops=(
        Op("start", timeout="300s"), Op("stop", timeout="300s"), Op("monitor", "20s", timeout="60s"))),
        packages=["mariadb-server"],
        files=[FileSpec("/etc/mysql/mariadb.conf.d/90-ha-openstack.cnf", render_template(
            "mysql-drbd.cnf.j2", bind_address=str(db_vip.address), datadir=db_vol.mount_point))],
        initial_data='mysql_install_db --datadir="$MOUNT" --user=mysql >/dev/null\n'
                     'chown mysql:mysql "$MOUNT"')

    # RabbitMQ on DRBD behind its VIP, one node name on both nodes (seed: rabbit@localhost).
    # Its first start (a new Mnesia schema) took over 200 s on a slow node; stops wait for flushes.
    mq_vip, mq_vol = stack.vip(mq.vip), stack.volume(mq.volume)
    rabbit = on_drbd("rabbitmq", mq.vip, mq.volume, Primitive("p_rabbitmq", "systemd:rabbitmq-server", ops=(
        Op("start", timeout="600s"), Op("stop", timeout="600s"), Op("monitor", "20s", timeout="60s"))),
        packages=["rabbitmq-server"],
        files=[FileSpec("/var/lib/rabbitmq/.erlang.cookie", mq.erlang_cookie.get_secret_value(),
                        mode="0400", owner="rabbitmq", group="rabbitmq", secret=True),
               FileSpec("/etc/rabbitmq/rabbitmq-env.conf", render_template(
                   "rabbitmq-env.conf.j2", nodename="rabbit@localhost", bind_address=str(mq_vip.address)))],
        initial_data='cp -a /var/lib/rabbitmq/.erlang.cookie "$MOUNT"/\n'
                     'chown rabbitmq:rabbitmq "$MOUNT"')

    # Databases and the queue user, created where the groups run.
    passwords = {p: s.get_secret_value() for p, s in ops.service_passwords.items()}
    provisioned: list[pulumi.Resource] = []
    for name in db_vol.nodes:
        node = remote.connect(hosts[name])
        provisioned.append(remote.run(
            f"mysql-{name}-databases", node,
            _on_active("p_mysql", render_template("scripts/mysql-provision.sh.j2", timeout_seconds=300)),
            parent=mysql, depends_on=[mysql.cib], stdin=database_sql(databases_of(ops.services), passwords), secret=True))
    for name in mq_vol.nodes:
        node = remote.connect(hosts[name])
        provisioned.append(remote.run(
            f"rabbitmq-{name}-user", node,
            _on_active("p_rabbitmq", render_template("scripts/rabbitmq-user.sh.j2", user=mq.user,
                                                     timeout_seconds=300)),
            parent=rabbit, depends_on=[rabbit.cib], stdin=mq.password.get_secret_value() + "\n",
            secret=True))

    # The API VIP with the OpenStack services (g_services_api) and the network agents.
    api_vip = stack.vip(ops.api_vip)
    api_host = str(api_vip.address)
    public_host = ops.public_endpoint_host or api_host
    auth_url = f"http://{api_host}:5000/v3"
    transport = transport_url(mq.user, mq.password.get_secret_value(), [str(mq_vip.address)])
    # Chapter 2 has one active node: the services bind every address (the VIP's among them).
    fragments = project_fragments(ops, bind_host=api_host, db_host=str(db_vip.address), transport=transport,
                                  auth_url=auth_url, extra=linked_options(
                                      ops, api_host=api_host, address=api_host, dhcp_agents=1))
    fragments += unit_files(ops, ops.services, None)
    api_services = [s for s in ops.services if SERVICES[s].group == "api"]
    network_services = [s for s in ops.services if SERVICES[s].group == "network"]
    api = OpenStackServiceVip("api", ServiceVipArgs(
        api_vip, stack.networks, cluster, group_id="g_services_api", files=fragments,
        services=[p for s in api_services for p in service_primitives(s, ops.resource_agents)],
        packages=packages_of(ops.services), node_scripts={"keystone-keys": render_template("scripts/keystone-keys.sh.j2")}
        if "keystone" in ops.services else {},
        depends_on=provisioned, region=ops.region,
        endpoints=service_endpoints(api_services, public=f"http://{public_host}", internal=f"http://{api_host}"),
        admin_openrc=FileSpec(ADMIN_OPENRC, admin_openrc(
            ops.admin_password.get_secret_value(), auth_url, ops.region), mode="0600", secret=True)), child())
    keystone_ready: list[pulumi.Resource] = []
    if "keystone" in ops.services:
        imports = share_keystone_keys(cluster, api)
        for node in cluster.nodes:
            keystone_ready.append(remote.run(f"keystone-{node.name}-bootstrap", node, _on_active("p_keystone", render_template(
                "scripts/keystone-bootstrap.sh.j2", region=ops.region, db_host=str(db_vip.address),
                db_port=3306, timeout_seconds=300,
                admin_url=auth_url, internal_url=auth_url, public_url=f"http://{public_host}:5000/v3")),
                parent=api, depends_on=[api.cib, *imports], stdin=ops.admin_password.get_secret_value() + "\n",
                secret=True))
    set_up_projects(cluster, api, ops.services, passwords, db_host=str(db_vip.address), db_port=3306,
                    api_host=api_host, openrc=ADMIN_OPENRC, keystone_ready=keystone_ready)
    if network_services:
        OpenStackServiceVip("network", ServiceVipArgs(
            None, stack.networks, cluster, group_id="g_services_network",
            services=[p for s in network_services for p in service_primitives(s, ops.resource_agents)],
            depends_on=[api.cib]), child())

    return {
        "cluster_name": cluster.cluster_name,
        "database_vip": mysql.address,
        "messaging_vip": rabbit.address,
        "api_vip": api.address,
        "keystone_url": pulumi.Output.from_input(remote.resolve(f"http://{public_host}:5000/v3")),
        "transport_url": pulumi.Output.secret(remote.resolve(transport)),
        "database_urls": pulumi.Output.secret(remote.resolve({
            db: sqlalchemy_url(user, passwords[user], str(db_vip.address), db)
            for db, user in databases_of(ops.services).items()})),
    }
