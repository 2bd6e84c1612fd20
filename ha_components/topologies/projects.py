"""What the OpenStack projects need in both topologies, all read from the catalog: their config
files, endpoints and Pacemaker primitives; once the API VIP is up, keystone's keys shared by
every controller and, for each other project, its database schema, its keystone service user,
and its API answering through the VIP."""
from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi

from .. import remote
from ..catalog import OCF_OPENSTACK, PROJECTS, SERVICES, database_projects, projects_of
from ..models.openstack import OpenStackSpec
from ..pacemaker import PacemakerCluster
from ..render import FileSpec, render_template, static_file
from ..render.cib import Op, Primitive
from ..render.openstack import (database_urls, fragment_path, ini_literal, init_defaults_path, service_fragment,
                                unit_defaults)
from ..vip import Endpoint, OpenStackServiceVip, UnitSet

TIMEOUT_SECONDS = 300


def project_fragments(ops: OpenStackSpec, *, bind_host: str, db_host: str, transport: str, auth_url: str,
                      memcached_servers: list[str] | None = None,
                      extra: dict[str, dict[str, dict[str, str]]] | None = None) -> list[FileSpec]:
    """Each project's config fragment: bindings, databases, queue, keystone, then the stack's
    `openstack.settings` (after `extra`, the topology's per-node options)."""
    passwords = {p: s.get_secret_value() for p, s in ops.service_passwords.items()}
    files = []
    for project in projects_of(ops.services):
        sections: dict[str, dict[str, str]] = {}
        for part in ((extra or {}).get(project, {}), ops.settings.get(project, {})):
            for section, options in part.items():
                sections.setdefault(section, {}).update(options)
        files.append(FileSpec(fragment_path(project), service_fragment(
            project, ops.services, bind_host=bind_host,
            database_urls=database_urls(project, passwords[project], db_host), transport=transport,
            auth_url=auth_url, service_password=passwords.get(project, ""), region=ops.region,
            memcached_servers=memcached_servers, workers=ops.workers, extra_sections=sections),
            mode="0640", group=project, secret=True))
    return files


def linked_options(ops: OpenStackSpec, *, api_host: str, address: str,
                   dhcp_agents: int) -> dict[str, dict[str, dict[str, str]]]:
    """Options that point a project at another one or at its node: the metadata proxy's secret
    and address, the Linux bridge agent's VXLAN endpoint and provider interface, the DHCP agents
    per network (the seed's chapter 3: every one of them), keystone for heat's clients."""
    projects = projects_of(ops.services)
    secret = {"metadata_proxy_shared_secret": ini_literal(ops.metadata_secret.get_secret_value())} \
        if ops.metadata_secret else {}
    out: dict[str, dict[str, dict[str, str]]] = {}
    if "nova" in projects:
        out["nova"] = {"DEFAULT": {"my_ip": address}, "neutron": dict(secret)}
    if "neutron" in projects:
        out["neutron"] = {
            "DEFAULT": {"dhcp_agents_per_network": str(dhcp_agents), "nova_metadata_host": api_host, **secret},
            "vxlan": {"enable_vxlan": "true", "local_ip": address, "l2_population": "true"}}
        if ops.provider_interface:
            out["neutron"] |= {"linux_bridge": {"physical_interface_mappings": f"provider:{ops.provider_interface}"},
                               "ml2_type_flat": {"flat_networks": "provider"}}
    if "heat" in projects:
        out["heat"] = {"clients_keystone": {"auth_uri": f"http://{api_host}:5000"}}
    return out


def unit_files(ops: OpenStackSpec, services: list[str], address: str | None) -> list[FileSpec]:
    """/etc/default/<unit> of every unit: uwsgi's socket on `address` (None: every address) and
    process count, the config dir of the others."""
    return [FileSpec(path, content) for s in services for path, content in unit_defaults(
        s, address, (ops.keystone_processes or ops.workers) if s == "keystone" else ops.workers)]


# Pacemaker's 20 s default is too short for a Python service on a loaded node: a stop that
# ran over it (the L3 agent's namespace cleanup) fenced the node on the lab.
PACEMAKER_OP_TIMEOUT_S = 120
# systemd's stop timeout of a unit that cleans up after itself (its ExecStopPost counts): the
# L3 agent's own 15 s cut neutron-netns-cleanup short on a loaded lab and left its router
# namespace behind; under Pacemaker's stop timeout so that systemd, not a fence, ends a hang.
UNIT_STOP_TIMEOUT_S = PACEMAKER_OP_TIMEOUT_S - 20


def unit_dropins(services: list[str]) -> list[FileSpec]:
    """systemd drop-ins of the units that run something after they start or stop (catalog:
    exec_stop_post, start_post_script), and the scripts they start."""
    units = [u for s in services for u in SERVICES[s].units if u.exec_stop_post or u.start_post_script]
    scripts = {u.start_post_script: f"/usr/local/sbin/{u.start_post_script}" for u in units if u.start_post_script}
    return [*(FileSpec(f"/etc/systemd/system/{u.name}.service.d/ha-openstack.conf", render_template(
        "systemd-dropin.conf.j2", exec_stop_post=u.exec_stop_post, stop_timeout_s=UNIT_STOP_TIMEOUT_S,
        exec_start_post=scripts.get(u.start_post_script, ""))) for u in units),
        *(FileSpec(path, static_file(name), mode="0755") for name, path in scripts.items())]


def unit_sets(services: list[str]) -> list[UnitSet]:
    """One set per project: its units, restarted when its config fragment or one of their
    /etc/default files changes (and only then)."""
    projects = projects_of(services)
    ordered: list[str] = []  # a project after those it starts after (catalog: starts_after)
    while len(ordered) < len(projects):
        ready = [p for p in projects if p not in ordered
                 and all(a in ordered or a not in projects for a in PROJECTS[p].starts_after)]
        assert ready, f"catalog: starts_after has a cycle among {projects}"
        ordered += ready
    out = []
    for project in ordered:
        infos = [SERVICES[s] for s in services if SERVICES[s].project == project]
        members = [u for info in infos for u in info.units]
        ports = {info.port for info in infos if info.port} | {u.uwsgi_port for u in members if u.uwsgi_port}
        out.append(UnitSet(project, [u.name for u in members],
                           [fragment_path(project), *(init_defaults_path(u.defaults_name) for u in members)],
                           after=PROJECTS[project].starts_after, ports=tuple(sorted(ports))))
    return out


def service_endpoints(services: list[str], *, public: str, internal: str) -> list[Endpoint]:
    """Keystone's catalog entries of every API but keystone's own (its bootstrap makes those);
    `public` and `internal` are scheme://host (the public one https:// behind TLS)."""
    return [Endpoint(SERVICES[s].project, SERVICES[s].service_type or "", interface,
                     f"{public if interface == 'public' else internal}:{SERVICES[s].port}"
                     f"{SERVICES[s].endpoint_path}")
            for s in services if SERVICES[s].service_type and s != "keystone"
            for interface in ("public", "internal", "admin")]


def service_primitives(service: str, agents: str) -> list[Primitive]:
    """A service under Pacemaker: the seed's one OCF agent, or one systemd primitive per unit
    (p_<service> when it has one unit)."""
    ops = (Op("start", timeout=f"{PACEMAKER_OP_TIMEOUT_S}s"), Op("stop", timeout=f"{PACEMAKER_OP_TIMEOUT_S}s"),
           Op("monitor", "30s", timeout="30s"))
    if agents == "ocf-openstack":
        return [Primitive(f"p_{service}", OCF_OPENSTACK[service], ops=ops)]
    units = SERVICES[service].unit_names
    return [Primitive(f"p_{service if len(units) == 1 else unit}", f"systemd:{unit}", ops=ops) for unit in units]


def share_keystone_keys(cluster: PacemakerCluster, api: OpenStackServiceVip) -> list[pulumi.Resource]:
    """Every controller signs and reads tokens and credentials with the first one's keys (each
    created its own before the CIB change), so a token or credential outlives the controller
    that made it, in a failover too. Run this before keystone's admin exists, so that no
    token is issued with keys that are then replaced."""
    first = cluster.nodes[0]
    keys = remote.run("keystone-keys-export", first, render_template("scripts/keystone-keys-export.sh.j2"),
                      parent=api, depends_on=[api.cib], secret=True)
    return [remote.run(f"keystone-{node.name}-keys-import", node, render_template(
        "scripts/keystone-keys-import.sh.j2", source=first.name), parent=api, depends_on=[keys],
        stdin=keys.stdout, secret=True) for node in cluster.nodes[1:]]


def set_up_projects(cluster: PacemakerCluster, api: OpenStackServiceVip, services: list[str], passwords: dict[str, str], *,
                    db_host: str, db_port: int, api_host: str, openrc: str,
                    keystone_ready: Sequence[pulumi.Resource], late_units: Sequence[UnitSet] = ()) -> pulumi.Resource | None:
    """Schemas, service users and a readiness check on the cluster's first node (it holds
    the admin openrc); then `late_units` on every node (active/active: the services that need
    their schema when they start). Returns the readiness check, None when keystone is all there is."""
    projects = [p for p in projects_of(services) if p != "keystone"]
    if not projects:
        return None
    node = cluster.cib_node
    schemas = [remote.run(f"{project}-schema", node, render_template(
        "scripts/project-schema.sh.j2", project=project, commands=PROJECTS[project].schema, db_host=db_host,
        db_port=db_port, timeout_seconds=TIMEOUT_SECONDS), parent=api, depends_on=[api.cib])
        for project in database_projects(services) if PROJECTS[project].schema]
    assert api.openrc is not None
    users = remote.run("service-users", node, render_template(
        "scripts/service-users.sh.j2", openrc=openrc, timeout_seconds=TIMEOUT_SECONDS),
        parent=api, depends_on=[api.openrc, *keystone_ready],
        stdin=json.dumps({p: passwords[p] for p in projects}) + "\n", secret=True)
    urls = [f"http://{api_host}:{SERVICES[s].port}/" for s in services
            if SERVICES[s].port and SERVICES[s].project in projects]
    set_up = [*schemas, users, *([api.endpoints] if api.endpoints else [])]
    started = api.start_units(list(late_units), set_up) if late_units else []
    return remote.run("api-ready", node, render_template(
        "scripts/api-ready.sh.j2", urls=urls, timeout_seconds=TIMEOUT_SECONDS), parent=api,
        depends_on=[*set_up, *started])
