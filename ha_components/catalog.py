"""What the SDK knows about OpenStack services: Debian unit names, ports, agents.

Pure data, no pulumi. The seed's ocf:openstack agents are kept selectable; the
default is the distribution's systemd unit.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceInfo:
    name: str  # the seed's resource name without p_, e.g. "glance-api"
    project: str  # keystone, glance, ... (config dir, database and keystone user)
    unit: str  # Debian systemd unit
    group: str  # the seed's group: "api" (g_services_api) or "network" (g_services_network)
    port: int | None = None  # API port, for endpoints and HAProxy
    service_type: str | None = None  # keystone catalog type
    endpoint_path: str = ""
    bind_option: tuple[str, str] | None = None  # (section, option) that binds the API
    uses_database: bool = True
    uses_messaging: bool = True


SERVICES: dict[str, ServiceInfo] = {s.name: s for s in [
    ServiceInfo("keystone", "keystone", "keystone", "api", 5000, "identity", "/v3",
                None, uses_messaging=False),
    ServiceInfo("glance-api", "glance", "glance-api", "api", 9292, "image", "",
                ("DEFAULT", "bind_host")),
    ServiceInfo("cinder-api", "cinder", "cinder-api", "api", 8776, "volumev3", "/v3/%(project_id)s",
                ("DEFAULT", "osapi_volume_listen")),
    ServiceInfo("neutron-server", "neutron", "neutron-api", "api", 9696, "network", "",
                ("DEFAULT", "bind_host")),
    ServiceInfo("nova-api", "nova", "nova-api", "api", 8774, "compute", "/v2.1",
                ("DEFAULT", "osapi_compute_listen")),
    ServiceInfo("heat-api", "heat", "heat-api", "api", 8004, "orchestration", "/v1/%(project_id)s",
                ("heat_api", "bind_host")),
    ServiceInfo("ceilometer-agent-central", "ceilometer", "ceilometer-agent-central", "api",
                uses_database=False),
    ServiceInfo("neutron-l3-agent", "neutron", "neutron-l3-agent", "network", uses_database=False),
    ServiceInfo("neutron-dhcp-agent", "neutron", "neutron-dhcp-agent", "network", uses_database=False),
    ServiceInfo("neutron-metadata-agent", "neutron", "neutron-metadata-agent", "network",
                uses_database=False),
    ServiceInfo("nova-scheduler", "nova", "nova-scheduler", "api"),
    ServiceInfo("nova-conductor", "nova", "nova-conductor", "api"),
    ServiceInfo("cinder-scheduler", "cinder", "cinder-scheduler", "api"),
    ServiceInfo("ceilometer-collector", "ceilometer", "ceilometer-collector", "api",
                uses_database=False),
    ServiceInfo("heat-engine", "heat", "heat-engine", "api"),
]}

# The command that creates or migrates a project's database schema, run as the project's
# user on one controller once its config reaches the database (keystone's is part of its
# bootstrap). Idempotent: each migrates only what is missing.
SCHEMA_SYNC = {
    "glance": "glance-manage db_sync",
    "cinder": "cinder-manage db sync",
    "neutron": "neutron-db-manage upgrade heads",
    "nova": "nova-manage api_db sync",
    "heat": "heat-manage db_sync",
}

# Resource agent names of the seed (github.com/madkiss/openstack-resource-agents).
OCF_OPENSTACK = {name: f"ocf:openstack:{name}" for name in SERVICES}


def projects_of(services: list[str]) -> list[str]:
    """Projects in first-seen order, e.g. ["keystone", "glance"]."""
    return list(dict.fromkeys(SERVICES[s].project for s in services))


def database_projects(services: list[str]) -> list[str]:
    return projects_of([s for s in services if SERVICES[s].uses_database])
