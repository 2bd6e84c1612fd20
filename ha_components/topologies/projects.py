"""What the OpenStack projects need once their API VIP is up, in both topologies: keystone's
keys shared by every controller; for each other project its database schema, its keystone
service user, and its API answering through the VIP."""
from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi

from .. import remote
from ..catalog import SCHEMA_SYNC, SERVICES, database_projects, projects_of
from ..pacemaker import PacemakerCluster
from ..render import render_template
from ..vip import OpenStackServiceVip

TIMEOUT_SECONDS = 300


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
                    keystone_ready: Sequence[pulumi.Resource]) -> pulumi.Resource | None:
    """Schemas, service users and a readiness check on the cluster's first node (it holds
    the admin openrc). Returns the readiness check, None when keystone is all there is."""
    projects = [p for p in projects_of(services) if p != "keystone"]
    if not projects:
        return None
    node = cluster.cib_node
    schemas = [remote.run(f"{project}-schema", node, render_template(
        "scripts/project-schema.sh.j2", project=project, command=SCHEMA_SYNC[project], db_host=db_host,
        db_port=db_port, timeout_seconds=TIMEOUT_SECONDS), parent=api, depends_on=[api.cib])
        for project in database_projects(services) if project in SCHEMA_SYNC]
    assert api.openrc is not None
    users = remote.run("service-users", node, render_template(
        "scripts/service-users.sh.j2", openrc=openrc, timeout_seconds=TIMEOUT_SECONDS),
        parent=api, depends_on=[api.openrc, *keystone_ready],
        stdin=json.dumps({p: passwords[p] for p in projects}) + "\n", secret=True)
    urls = [f"http://{api_host}:{SERVICES[s].port}/" for s in services
            if SERVICES[s].port and SERVICES[s].project in projects]
    return remote.run("api-ready", node, render_template(
        "scripts/api-ready.sh.j2", urls=urls, timeout_seconds=TIMEOUT_SECONDS), parent=api,
        depends_on=[*schemas, users, *([api.endpoints] if api.endpoints else [])])
