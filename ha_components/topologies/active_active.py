"""Seed chapter 3: Galera + a RabbitMQ cluster + HAProxy behind a Pacemaker VIP + memcached,
and the OpenStack API services and schedulers running on every controller."""
from __future__ import annotations

from typing import Any

import pulumi

from .. import remote
from ..catalog import OCF_OPENSTACK, SERVICES, database_projects, projects_of
from ..galera import GaleraCluster, GaleraClusterArgs
from ..haproxy import HaproxyFrontend, HaproxyFrontendArgs
from ..models import StackConfig
from ..models.active_active import controllers, frontend_plan, public_base
from ..models.haproxy import MemcachedSpec
from ..pacemaker import PacemakerCluster, PacemakerClusterArgs
from ..rabbitmq import RabbitHACluster, RabbitHAClusterArgs
from ..render import FileSpec, render_template
from ..render.cib import Op, Primitive
from ..render.haproxy import PROXY_HEADERS
from ..render.memcached import CONFIG_PATH as MEMCACHED_CONF, memcached_conf, memcached_servers
from ..render.openstack import (ADMIN_OPENRC, admin_openrc, fragment_path, init_defaults, init_defaults_path,
                                keystone_defaults, service_fragment)
from ..render.rabbitmq import oslo_messaging_settings
from ..vip import Endpoint, OpenStackServiceVip, ServiceVipArgs
from .projects import set_up_projects, share_keystone_keys


def build_active_active(stack: StackConfig) -> dict[str, Any]:
    assert stack.galera and stack.rabbitmq and stack.haproxy and stack.openstack  # validate_stack
    g, mq, lb, ops = stack.galera, stack.rabbitmq, stack.haproxy, stack.openstack
    mc = stack.memcached or MemcachedSpec()
    hosts = {h.name: h for h in stack.hosts}
    cluster = PacemakerCluster("cluster", PacemakerClusterArgs(
        stack.pacemaker, [hosts[n] for n in stack.pacemaker.nodes]))
    vip = stack.vip(lb.vip)
    vip_host = str(vip.address)
    plan = frontend_plan(stack)
    galera_port = next(p.bind[1] for p in plan if p.name == "galera")

    passwords = {p: s.get_secret_value() for p, s in ops.service_passwords.items()}
    db_projects = database_projects(ops.services)
    balancers = [str(a) for n in lb.nodes for a in hosts[n].addresses] + [vip_host]
    galera = GaleraCluster("galera", GaleraClusterArgs(
        g, [hosts[n] for n in g.nodes], vip_address=vip_host, vip_port=galera_port,
        health_allowed_from=balancers, databases={p: passwords[p] for p in db_projects},
        arbitrator=hosts[g.arbitrator] if g.arbitrator else None))
    rabbit = RabbitHACluster("rabbitmq", RabbitHAClusterArgs(mq, [hosts[n] for n in mq.nodes]))
    haproxy = HaproxyFrontend("haproxy", HaproxyFrontendArgs(
        lb, [hosts[n] for n in lb.nodes], plan, cluster,
        public_vip=stack.vip(lb.tls.public_vip) if lb.tls else None, networks=stack.networks))

    # The controllers: every service on every node, bound to the node's address, pointed at
    # the VIP (database, keystone), every broker (transport_url) and every memcached.
    ctl = controllers(stack)
    mc_servers = memcached_servers(mc, [str(hosts[n].addresses[mc.link]) for n in ctl])
    auth_url = f"http://{vip_host}:5000/v3"
    public = public_base(stack)  # https://... with haproxy.tls
    transport = _transport(mq, [hosts[n] for n in mq.nodes])
    messaging = oslo_messaging_settings(mq)
    node_files: dict[str, list[FileSpec]] = {}
    for name in ctl:
        address = str(hosts[name].addresses[lb.link])
        files = [FileSpec(MEMCACHED_CONF, memcached_conf(mc, str(hosts[name].addresses[mc.link])))]
        for project in projects_of(ops.services):
            uses_mq = project != "keystone"
            files.append(FileSpec(fragment_path(project), service_fragment(
                project, ops.services, bind_host=address,
                database_url=galera_url(project, passwords[project], vip_host, galera_port)
                if project in db_projects else None,
                transport=transport if uses_mq else None, auth_url=auth_url,
                service_password=passwords.get(project, ""), region=ops.region, memcached_servers=mc_servers,
                extra_sections=_merge(messaging if uses_mq else {},
                                      _extra_binds(project, ops.services, address),
                                      PROXY_HEADERS if lb.tls else {}, ops.settings.get(project, {}))),
                mode="0640", group=project, secret=True))
        for service in ops.services:
            info = SERVICES[service]
            files.append(FileSpec(init_defaults_path(info.unit), keystone_defaults(
                address, processes=ops.keystone_processes) if service == "keystone" else init_defaults(info.project)))
        node_files[name] = files

    # The seed's chapter 3 keeps the L3 and metadata agents active/passive under Pacemaker
    # (g_services_network); the DHCP agent and everything else run on every controller.
    pacemaker_agents = [s for s in ops.services if s in PACEMAKER_AGENTS]
    everywhere = [s for s in ops.services if s not in PACEMAKER_AGENTS]
    units = ["memcached"] + [SERVICES[s].unit for s in everywhere]
    endpoints = [
        Endpoint(SERVICES[s].project, SERVICES[s].service_type or "", interface,
                 f"{public if interface == 'public' else 'http://' + vip_host}:{SERVICES[s].port}"
                 f"{SERVICES[s].endpoint_path}")
        for s in ops.services if SERVICES[s].service_type and s != "keystone"
        for interface in ("public", "internal", "admin")
    ]
    # The API VIP follows the HAProxy clone (IPaddr2 colocated with cl_haproxy).
    api = OpenStackServiceVip("api", ServiceVipArgs(
        vip, stack.networks, cluster, colocate_with=haproxy.clone_id,
        packages=["memcached", *[SERVICES[s].unit for s in everywhere]], systemd_units=units,
        node_files=node_files,
        node_scripts={"keystone-keys": render_template("scripts/keystone-keys.sh.j2")}
        if "keystone" in ops.services else {},
        depends_on=[galera.ready, rabbit.ready, haproxy.cib], endpoints=endpoints, region=ops.region,
        admin_openrc=FileSpec(ADMIN_OPENRC, admin_openrc(
            ops.admin_password.get_secret_value(), auth_url, ops.region), mode="0600", secret=True)))
    keystone_ready = [_keystone(ops, cluster, api, auth_url, public, vip_host, galera_port, ADMIN_OPENRC)] \
        if "keystone" in ops.services else []
    set_up_projects(cluster, api, ops.services, passwords, db_host=vip_host, db_port=galera_port,
                    api_host=vip_host, openrc=ADMIN_OPENRC, keystone_ready=keystone_ready)
    if pacemaker_agents:
        OpenStackServiceVip("network", ServiceVipArgs(
            None, stack.networks, cluster, group_id="g_services_network",
            packages=[SERVICES[s].unit for s in pacemaker_agents],
            services=[_agent_primitive(s, ops.resource_agents) for s in pacemaker_agents],
            depends_on=[api.cib]))

    return {
        "cluster_name": cluster.cluster_name,
        "api_vip": api.address,
        "keystone_url": pulumi.Output.from_input(f"{public}:5000/v3"),
        "haproxy_stats": haproxy.stats_urls,
        "galera_cluster_size": galera.size,
        "rabbitmq_nodes": rabbit.nodes,
        "memcached_servers": pulumi.Output.from_input(mc_servers),
        "oslo_messaging_settings": rabbit.settings,
        "transport_url": rabbit.transport_url,
        "database_urls": galera.database_urls,
        **({"ca_certificate": haproxy.ca_certificate} if lb.tls and lb.tls.ca_certificate else {}),
    }


PACEMAKER_AGENTS = ("neutron-l3-agent", "neutron-metadata-agent")


def _agent_primitive(name: str, agents: str) -> Primitive:
    agent = OCF_OPENSTACK[name] if agents == "ocf-openstack" else f"systemd:{SERVICES[name].unit}"
    return Primitive(f"p_{name}", agent, ops=(Op("monitor", "30s", timeout="30s"),))


# Listeners of the seed whose services bind a second port that the catalog does not know:
# they bind the node address too, never every address (HAProxy holds VIP:port).
_EXTRA_BINDS = {"nova-api": ("nova", "DEFAULT", "metadata_listen")}


def _extra_binds(project: str, services: list[str], address: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for service, (owner, section, option) in _EXTRA_BINDS.items():
        if service in services and owner == project:
            out.setdefault(section, {})[option] = address
    return out


def _merge(*parts: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for part in parts:
        for section, options in part.items():
            out.setdefault(section, {}).update(options)
    return out


def galera_url(project: str, password: str, vip_host: str, port: int) -> str:
    from ..render.openstack import sqlalchemy_url

    return sqlalchemy_url(project, password, vip_host if port == 3306 else f"{vip_host}:{port}")


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
