"""What the SDK knows about OpenStack services: Debian units, ports, databases, where they run.

Pure data, no pulumi: the topologies, the HAProxy listeners, the config fragments, the
schema steps and the keystone endpoints all read this. Adding a service is an entry here
(and its options in PROJECTS), never a branch in a topology. The seed's ocf:openstack agents
are kept selectable; the default is the distribution's systemd unit.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# Where a service runs in active/active (seed chapter 3): on every controller, or in a
# Pacemaker group on one of them (the agents that have no native HA).
EVERYWHERE = "everywhere"


@dataclass(frozen=True)
class Unit:
    """One Debian systemd unit of a service. A unit run by uwsgi gets its socket (the node's
    address) and process count from /etc/default/<unit>; the others from the config."""

    name: str
    uwsgi_port: int | None = None
    uwsgi_ini: str | None = None
    package: str = ""  # the Debian package shipping it, when not named like the unit
    exec_stop_post: str = ""  # run by systemd after the unit stopped (a systemd drop-in)
    # A script of render/files run by systemd once the unit started (a drop-in's ExecStartPost;
    # its failure is logged, not fatal), installed in /usr/local/sbin.
    start_post_script: str = ""
    init_name: str = ""  # its init script's NAME (/etc/default/<NAME>), when not the unit's
    requires: tuple[str, ...] = ()  # Debian packages it needs that its package does not pull in

    @property
    def defaults_name(self) -> str:
        return self.init_name or self.name

    @property
    def package_name(self) -> str:
        return self.package or self.name


@dataclass(frozen=True)
class ServiceInfo:
    name: str  # the seed's resource name without p_, e.g. "glance-api"
    project: str  # keystone, glance, ... (config dir, database and keystone user)
    units: tuple[Unit, ...]
    group: str  # chapter 2's group: "api" (g_services_api) or "network" (g_services_network)
    active_active: str = EVERYWHERE  # chapter 3: EVERYWHERE or the Pacemaker group it runs in
    port: int | None = None  # API port, for endpoints
    service_type: str | None = None  # keystone catalog type
    endpoint_path: str = ""
    listeners: tuple[str, ...] = ()  # HAProxy listen sections in front of it (models/haproxy.py)
    bind_option: tuple[str, str] | None = None  # (section, option) binding a non-uwsgi API

    @property
    def unit_names(self) -> list[str]:
        return [u.name for u in self.units]


@dataclass(frozen=True)
class ProjectInfo:
    """What one project's services share: databases, schema steps, messaging, outgoing auth."""

    name: str
    # Its databases (user: the project) and the config option pointing at each, first the main one.
    databases: tuple[tuple[str, str, str], ...] = ()  # (database, section, option)
    # Schema steps, run in order as the project's user on one controller (idempotent).
    schema: tuple[str, ...] = ()
    uses_messaging: bool = True
    # Sections where the project's own service user calls another service (nova's [placement]).
    auth_sections: tuple[str, ...] = ()
    # Options beyond the bindings and backends, before the stack's `openstack.settings`.
    defaults: dict[str, dict[str, str]] = field(default_factory=dict)
    # Options that take the stack's worker count (non-uwsgi processes).
    worker_options: tuple[tuple[str, str], ...] = ()
    # Projects whose services must run first on the node (nova's scheduler exits when
    # placement does not answer).
    starts_after: tuple[str, ...] = ()


def _api(port: int, ini: str, name: str, package: str = "") -> Unit:
    return Unit(name, port, ini, package)


SERVICES: dict[str, ServiceInfo] = {s.name: s for s in [
    ServiceInfo("keystone", "keystone", (_api(5000, "/etc/keystone/keystone-uwsgi.ini", "keystone"),), "api",
                port=5000, service_type="identity", endpoint_path="/v3",
                listeners=("keystone_public", "keystone_admin")),
    ServiceInfo("glance-api", "glance", (Unit("glance-api"),), "api", port=9292, service_type="image",
                listeners=("glance_api",), bind_option=("DEFAULT", "bind_host")),
    ServiceInfo("placement-api", "placement",
                (_api(8778, "/etc/placement/placement-api-uwsgi.ini", "placement-api"),), "api",
                port=8778, service_type="placement", listeners=("placement_api",)),
    ServiceInfo("nova-api", "nova", (_api(8774, "/etc/nova/nova-api-uwsgi.ini", "nova-api"),
                                     _api(8775, "/etc/nova/nova-api-metadata-uwsgi.ini", "nova-api-metadata",
                                          "nova-api")),
                "api", port=8774, service_type="compute", endpoint_path="/v2.1",
                listeners=("nova_compute_api", "nova_metadata_api")),
    ServiceInfo("nova-scheduler", "nova", (Unit("nova-scheduler"),), "api"),
    ServiceInfo("nova-conductor", "nova", (Unit("nova-conductor"),), "api"),
    # Debian's /etc/init.d/neutron-api reads /etc/default/neutron-server.
    ServiceInfo("neutron-server", "neutron", (Unit("neutron-api", 9696, "/etc/neutron/neutron-api-uwsgi.ini",
                                                   init_name="neutron-server"), Unit("neutron-rpc-server")),
                "api", port=9696, service_type="network", listeners=("neutron_api",)),
    ServiceInfo("neutron-linuxbridge-agent", "neutron", (Unit("neutron-linuxbridge-agent"),), "network"),
    ServiceInfo("neutron-dhcp-agent", "neutron", (Unit("neutron-dhcp-agent"),), "network"),
    # A stopped L3 agent leaves its routers' namespaces (and their addresses) behind: on the
    # node the group moved away from they would answer beside the new ones. A started one
    # takes over the routers of the others (nothing in neutron 21 moves them: ha-l3-takeover).
    ServiceInfo("neutron-l3-agent", "neutron", (Unit("neutron-l3-agent", exec_stop_post=(
        "/usr/bin/neutron-netns-cleanup --config-file=/etc/neutron/neutron.conf"
        " --config-file=/etc/neutron/l3_agent.ini --config-dir=/etc/neutron/neutron.conf.d"
        " --agent-type=l3 --force"), start_post_script="ha-l3-takeover",
        # netns-cleanup finds a namespace's listeners with netstat; without it each namespace
        # fails ("Error unable to destroy namespace") and stays (the exit status is still 0).
        requires=("net-tools",)),), "network",
        active_active="g_services_network"),
    ServiceInfo("neutron-metadata-agent", "neutron", (Unit("neutron-metadata-agent"),), "network",
                active_active="g_services_network"),
    ServiceInfo("cinder-api", "cinder", (_api(8776, "/etc/cinder/cinder-api-uwsgi.ini", "cinder-api"),), "api",
                port=8776, service_type="volumev3", endpoint_path="/v3/%(project_id)s",
                listeners=("cinder_api",)),
    ServiceInfo("cinder-scheduler", "cinder", (Unit("cinder-scheduler"),), "api"),
    ServiceInfo("heat-api", "heat", (_api(8004, "/etc/heat/heat-api-uwsgi.ini", "heat-api"),), "api",
                port=8004, service_type="orchestration", endpoint_path="/v1/%(project_id)s",
                listeners=("heat_api",)),
    ServiceInfo("heat-engine", "heat", (Unit("heat-engine"),), "api"),
    ServiceInfo("ceilometer-agent-central", "ceilometer", (Unit("ceilometer-agent-central"),), "api",
                active_active="g_ceilometer"),
]}

# Seed services that no longer exist, with what replaced them (named by `validate`).
RETIRED = {
    "ceilometer-collector": "removed from ceilometer in Queens (2018): the agents publish directly",
    "glance-registry": "removed from glance in Stein (2019): glance-api reads the database itself",
}

_LOCK = {"oslo_concurrency": {"lock_path": "$state_path/lock"}}

PROJECTS: dict[str, ProjectInfo] = {p.name: p for p in [
    # keystone's schema is part of its bootstrap; it sends no messages.
    ProjectInfo("keystone", databases=(("keystone", "database", "connection"),), uses_messaging=False),
    # Glance's file store is the node's own disk: an image uploaded through one controller is
    # stored on that controller only; HA image storage (Ceph, Swift, a shared filesystem
    # mounted at the datadir) is set through `openstack.settings.glance`.
    ProjectInfo("glance", databases=(("glance", "database", "connection"),), schema=("glance-manage db_sync",),
                defaults={"paste_deploy": {"flavor": "keystone"},
                          "glance_store": {"stores": "file,http", "default_store": "file",
                                           "filesystem_store_datadir": "/var/lib/glance/images/"}},
                worker_options=(("DEFAULT", "workers"),)),
    ProjectInfo("placement", databases=(("placement", "placement_database", "connection"),),
                schema=("placement-manage db sync",), uses_messaging=False,
                defaults={"api": {"auth_strategy": "keystone"}}),
    # nova: the API database, cell0 and cell1 (the conductor's [database]); both cells mapped.
    ProjectInfo("nova", databases=(("nova", "database", "connection"), ("nova_api", "api_database", "connection"),
                                   ("nova_cell0", "", "")),
                schema=("nova-manage api_db sync", "nova-manage cell_v2 map_cell0",
                        "nova-manage cell_v2 list_cells | grep -qw cell1"
                        " || nova-manage cell_v2 create_cell --name=cell1 --verbose",
                        "nova-manage db sync"),
                auth_sections=("placement", "neutron", "service_user"), starts_after=("placement",),
                defaults={"api": {"auth_strategy": "keystone"}, "neutron": {"service_metadata_proxy": "true"},
                          "service_user": {"send_service_user_token": "true"}, **_LOCK},
                worker_options=(("conductor", "workers"), ("scheduler", "workers"),
                                ("DEFAULT", "metadata_workers"), ("DEFAULT", "osapi_compute_workers"))),
    ProjectInfo("neutron", databases=(("neutron", "database", "connection"),),
                schema=("neutron-db-manage upgrade heads",), auth_sections=("nova",),
                # An agent is shown dead 20 s after its last report. Routers follow the one L3
                # agent Pacemaker runs by ha-l3-takeover, not by the server's rescheduling (not
                # run under uwsgi); every DHCP agent serves every network anyway.
                defaults={"DEFAULT": {"core_plugin": "ml2", "service_plugins": "router",
                                      "interface_driver": "linuxbridge",
                                      "agent_down_time": "20", "allow_automatic_dhcp_failover": "false",
                                      "notify_nova_on_port_status_changes": "true",
                                      "notify_nova_on_port_data_changes": "true"},
                          "ml2": {"type_drivers": "flat,vxlan", "tenant_network_types": "vxlan",
                                  "mechanism_drivers": "linuxbridge,l2population",
                                  "extension_drivers": "port_security"},
                          "ml2_type_vxlan": {"vni_ranges": "1:1000"},
                          "securitygroup": {"enable_security_group": "true", "firewall_driver": "iptables"},
                          "agent": {"root_helper": "sudo neutron-rootwrap /etc/neutron/rootwrap.conf",
                                    "report_interval": "5"},
                          # neutron 21 refuses to load the Linux bridge driver without it
                          # (docs/openstack.md).
                          "experimental": {"linuxbridge": "true"},
                          **_LOCK},
                worker_options=(("DEFAULT", "api_workers"), ("DEFAULT", "rpc_workers"),
                                ("DEFAULT", "rpc_state_report_workers"), ("DEFAULT", "metadata_workers"))),
    ProjectInfo("cinder", databases=(("cinder", "database", "connection"),), schema=("cinder-manage db sync",),
                defaults={"DEFAULT": {"auth_strategy": "keystone"}, **_LOCK},
                worker_options=(("DEFAULT", "osapi_volume_workers"),)),
    ProjectInfo("heat", databases=(("heat", "database", "connection"),), schema=("heat-manage db_sync",),
                auth_sections=("trustee",), worker_options=(("DEFAULT", "num_engine_workers"),)),
    ProjectInfo("ceilometer", auth_sections=("service_credentials",)),
]}

# Resource agent names of the seed (github.com/madkiss/openstack-resource-agents).
OCF_OPENSTACK = {name: f"ocf:openstack:{name}" for name in SERVICES}


def projects_of(services: list[str]) -> list[str]:
    """Projects in first-seen order, e.g. ["keystone", "glance"]."""
    return list(dict.fromkeys(SERVICES[s].project for s in services))


def database_projects(services: list[str]) -> list[str]:
    return [p for p in projects_of(services) if PROJECTS[p].databases]


def databases_of(services: list[str]) -> dict[str, str]:
    """database -> its user (the project), for every project of `services` that has one."""
    return {db: p for p in database_projects(services) for db, _, _ in PROJECTS[p].databases}


def units_of(services: list[str]) -> list[str]:
    return [u for s in services for u in SERVICES[s].unit_names]


def packages_of(services: list[str]) -> list[str]:
    return list(dict.fromkeys(p for s in services for u in SERVICES[s].units for p in (u.package_name, *u.requires)))


def pacemaker_groups(services: list[str]) -> dict[str, list[str]]:
    """Chapter 3's Pacemaker groups: group id -> its services in start order."""
    out: dict[str, list[str]] = {}
    for s in services:
        if SERVICES[s].active_active != EVERYWHERE:
            out.setdefault(SERVICES[s].active_active, []).append(s)
    return out
