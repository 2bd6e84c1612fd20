"""Seed chapter 3: Galera + a RabbitMQ cluster + HAProxy behind a Pacemaker VIP + memcached,
and the OpenStack API services and schedulers running on every controller."""
from __future__ import annotations

from typing import Any

import pulumi

from .. import remote
from ..catalog import (EVERYWHERE, PROJECTS, SERVICES, database_projects, databases_of, packages_of,
                       pacemaker_groups, projects_of)
from ..galera import GaleraCluster, GaleraClusterArgs, host_port
from ..haproxy import HaproxyFrontend, HaproxyFrontendArgs
from ..models import StackConfig
from ..models.active_active import controllers, frontend_plan, public_base
from ..models.haproxy import MemcachedSpec
from ..pacemaker import PacemakerCluster, PacemakerClusterArgs
from ..rabbitmq import RabbitHACluster, RabbitHAClusterArgs
from ..render import FileSpec, render_template, stop_units
from ..render.haproxy import ADMIN_SOCKET, PROXY_HEADERS
from ..render.memcached import CONFIG_PATH as MEMCACHED_CONF, memcached_conf, memcached_servers
from ..render.openstack import ADMIN_OPENRC, admin_openrc
from ..render.rabbitmq import oslo_messaging_settings
from ..vip import OpenStackServiceVip, ServiceVipArgs, UnitSet
from .projects import (linked_options, project_fragments, service_endpoints, service_primitives, set_up_projects,
                       share_keystone_keys, unit_dropins, unit_files, unit_sets)


def build_active_active(stack: StackConfig, parent: pulumi.Resource | None = None) -> dict[str, Any]:
    """The topology's components, children of `parent` (the stack when None). Controllers in
    `leaving` go first: every command of the staying ones waits for them."""
    with remote.after(_leave(stack, parent)):
        return _build(stack, parent)


def _build(stack: StackConfig, parent: pulumi.Resource | None) -> dict[str, Any]:
    def child() -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent)

    assert stack.galera and stack.rabbitmq and stack.haproxy and stack.openstack  # validate_stack
    g, mq, lb, ops = stack.galera, stack.rabbitmq, stack.haproxy, stack.openstack
    mc = stack.memcached or MemcachedSpec()
    hosts = {h.name: h for h in stack.hosts}
    cluster = PacemakerCluster("cluster", PacemakerClusterArgs(
        stack.pacemaker, [hosts[n] for n in stack.pacemaker.nodes], departed=list(stack.leaving)), child())
    vip = stack.vip(lb.vip)
    vip_host = str(vip.address)
    plan = frontend_plan(stack)
    galera_port = next(p.bind[1] for p in plan if p.name == "galera")

    passwords = {p: s.get_secret_value() for p, s in ops.service_passwords.items()}
    balancers = [str(a) for n in lb.nodes for a in hosts[n].addresses] + [vip_host]
    galera = GaleraCluster("galera", GaleraClusterArgs(
        g, [hosts[n] for n in g.nodes], vip_address=vip_host, vip_port=galera_port,
        health_allowed_from=balancers, users={p: passwords[p] for p in database_projects(ops.services)},
        databases=databases_of(ops.services), arbitrator=hosts[g.arbitrator] if g.arbitrator else None), child())
    rabbit = RabbitHACluster("rabbitmq", RabbitHAClusterArgs(mq, [hosts[n] for n in mq.nodes]), child())
    haproxy = HaproxyFrontend("haproxy", HaproxyFrontendArgs(
        lb, [hosts[n] for n in lb.nodes], plan, cluster,
        public_vip=stack.vip(lb.tls.public_vip) if lb.tls else None, networks=stack.networks), child())

    # The controllers: every service on every node, bound to the node's address, pointed at
    # the VIP (database, keystone), every broker (transport_url) and every memcached. The
    # agents without native HA run in Pacemaker groups instead (the seed's chapter 3).
    ctl = controllers(stack)
    groups = pacemaker_groups(ops.services)
    everywhere = [s for s in ops.services if SERVICES[s].active_active == EVERYWHERE]
    mc_servers = memcached_servers(mc, [str(hosts[n].addresses[mc.link]) for n in ctl])
    auth_url = f"http://{vip_host}:5000/v3"
    public = public_base(stack)  # https://... with haproxy.tls
    transport = _transport(mq, [hosts[n] for n in mq.nodes])
    node_files: dict[str, list[FileSpec]] = {}
    for name in ctl:
        address = str(hosts[name].addresses[lb.link])
        extra = linked_options(ops, api_host=vip_host, address=address, dhcp_agents=len(ctl))
        messaging = {p: oslo_messaging_settings(mq) for p in projects_of(ops.services) if PROJECTS[p].uses_messaging}
        node_files[name] = [
            FileSpec(MEMCACHED_CONF, memcached_conf(mc, str(hosts[name].addresses[mc.link]))),
            *project_fragments(ops, bind_host=address, db_host=host_port(vip_host, galera_port),
                               transport=transport, auth_url=auth_url, memcached_servers=mc_servers,
                               extra=_merge_projects(messaging, extra, {p: PROXY_HEADERS for p in projects_of(ops.services)}
                                                     if lb.tls else {})),
            *unit_files(ops, ops.services, address)]

    # memcached and keystone first (keystone's bootstrap and the service users need it); the
    # other services once their schema and service user exist: placement's, nova's and
    # neutron's processes fail to start without their database.
    first = [s for s in everywhere if s == "keystone"]
    units = [UnitSet("memcached", ["memcached"], [MEMCACHED_CONF]), *unit_sets(first)]
    # The API VIP follows the HAProxy clone (IPaddr2 colocated with cl_haproxy).
    api = OpenStackServiceVip("api", ServiceVipArgs(
        vip, stack.networks, cluster, colocate_with=haproxy.clone_id,
        packages=["memcached", *packages_of(everywhere)], systemd_units=units,
        node_files=node_files, bind_addresses={n: str(hosts[n].addresses[lb.link]) for n in ctl},
        node_scripts={"keystone-keys": render_template("scripts/keystone-keys.sh.j2")}
        if "keystone" in ops.services else {},
        depends_on=[galera.ready, rabbit.ready, haproxy.cib],
        endpoints=service_endpoints(ops.services, public=public, internal=f"http://{vip_host}"),
        region=ops.region,
        admin_openrc=FileSpec(ADMIN_OPENRC, admin_openrc(
            ops.admin_password.get_secret_value(), auth_url, ops.region), mode="0600", secret=True)), child())
    keystone_ready = [_keystone(ops, cluster, api, auth_url, public, vip_host, galera_port, ADMIN_OPENRC)] \
        if "keystone" in ops.services else []
    ready = set_up_projects(cluster, api, ops.services, passwords, db_host=vip_host, db_port=galera_port,
                            api_host=vip_host, openrc=ADMIN_OPENRC, keystone_ready=keystone_ready,
                            late_units=unit_sets([s for s in everywhere if s not in first]))
    for group_id, members in groups.items():
        dropins = unit_dropins(members)
        group = OpenStackServiceVip(group_id.removeprefix("g_").replace("_", "-"), ServiceVipArgs(
            None, stack.networks, cluster, group_id=group_id, packages=packages_of(members), files=dropins,
            node_scripts={"daemon-reload": render_template("scripts/daemon-reload.sh.j2", files=dropins)}
            if dropins else {},
            services=[p for s in members for p in service_primitives(s, ops.resource_agents)],
            depends_on=[api.cib, *([ready] if ready else [])]), child())
        # `up` restarts the units it runs itself when their files change; Pacemaker's group
        # is restarted (where it runs) when its services' files do.
        watched = [p for s in unit_sets(members) for p in s.files] + [f.path for f in dropins]
        remote.run(f"{group_id}-restart", cluster.cib_node, render_template(
            "scripts/group-restart.sh.j2", group=group_id, files=watched, timeout_seconds=300),
            parent=group, depends_on=[group.cib], triggers=[remote.content_hash(pulumi.Output.secret("".join(
                f.path + "\0" + f.content for n in ctl for f in node_files[n] if f.path in watched)))])

    return {
        "cluster_name": cluster.cluster_name,
        "api_vip": api.address,
        "keystone_url": pulumi.Output.from_input(remote.resolve(f"{public}:5000/v3")),
        "haproxy_stats": haproxy.stats_urls,
        "galera_cluster_size": galera.size,
        "rabbitmq_nodes": rabbit.nodes,
        "memcached_servers": pulumi.Output.from_input(remote.resolve(mc_servers)),
        "oslo_messaging_settings": rabbit.settings,
        "transport_url": rabbit.transport_url,
        "database_urls": galera.database_urls,
        **({"ca_certificate": haproxy.ca_certificate} if lb.tls and lb.tls.ca_certificate else {}),
    }


def _leave(stack: StackConfig, parent: pulumi.Resource | None) -> list[pulumi.Resource]:
    """The stack's `leaving` controllers: a check on a staying one, their servers drained in
    every HAProxy, then each leaves on itself, one at a time."""
    if not stack.leaving:
        return []
    assert stack.openstack and stack.haproxy  # validate_stack
    hosts = {h.name: h for h in stack.hosts}
    staying = controllers(stack)
    everywhere = [s for s in stack.openstack.services if SERVICES[s].active_active == EVERYWHERE]
    units = ["memcached", *(u for s in unit_sets(everywhere) for u in s.units)]
    check = remote.run("leaving-check", remote.connect(hosts[staying[0]]), render_template(
        "scripts/controllers-leave-check.sh.j2", staying=staying, leaving=stack.leaving), parent=parent)
    previous = [remote.run(f"leaving-drain-{n}", remote.connect(hosts[n]), render_template(
        "scripts/haproxy-drain.sh.j2", leaving=stack.leaving, admin_socket=ADMIN_SOCKET, timeout_seconds=30), parent=parent,
        depends_on=[check]) for n in stack.haproxy.nodes]
    for name in stack.leaving:
        previous = [remote.run(f"leaving-{name}", remote.connect(hosts[name]), render_template(
            "scripts/controller-leave.sh.j2", node=name, stop_units=stop_units(*units), timeout_seconds=300),
            parent=parent, depends_on=previous)]
    return previous


def _merge_projects(*parts: dict[str, dict[str, dict[str, str]]]) -> dict[str, dict[str, dict[str, str]]]:
    out: dict[str, dict[str, dict[str, str]]] = {}
    for part in parts:
        for project, sections in part.items():
            for section, options in sections.items():
                out.setdefault(project, {}).setdefault(section, {}).update(options)
    return out


def _transport(spec, hosts) -> str:  # type: ignore[no-untyped-def]
    from ..render.rabbitmq import cluster_transport_url

    return cluster_transport_url(spec, hosts)


def _keystone(ops, cluster: PacemakerCluster, api: OpenStackServiceVip, auth_url: str,  # type: ignore[no-untyped-def]
              public: str, db_host: str, db_port: int, openrc_path: str) -> pulumi.Resource:
    """The same keys on every controller, then one schema and admin user (first controller)."""
    first = cluster.nodes[0]
    imports = share_keystone_keys(cluster, api)
    bootstrap = remote.run("keystone-bootstrap", first, render_template(
        "scripts/keystone-bootstrap.sh.j2", region=ops.region, admin_url=auth_url, internal_url=auth_url,
        public_url=f"{public}:5000/v3", db_host=db_host, db_port=db_port, timeout_seconds=300),
        parent=api, depends_on=[api.cib, *imports], stdin=ops.admin_password.get_secret_value() + "\n", secret=True)
    # `up` is done when keystone issues a token through the VIP: its uwsgi workers load
    # lazily and HAProxy forwards only after two passing checks.
    assert api.openrc is not None and openrc_path
    return remote.run("keystone-ready", first, render_template(
        "scripts/keystone-ready.sh.j2", openrc=openrc_path, timeout_seconds=300),
        parent=api, depends_on=[bootstrap, *imports, api.openrc])
