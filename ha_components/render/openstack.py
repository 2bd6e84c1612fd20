"""OpenStack service configuration fragments, database statements and URLs."""
from __future__ import annotations

from ..catalog import SERVICES, projects_of
from . import render_template


def sqlalchemy_url(project: str, password: str, db_host: str) -> str:
    return f"mysql+pymysql://{project}:{password}@{db_host}/{project}"


def transport_url(user: str, password: str, hosts: list[str], port: int = 5672) -> str:
    """oslo.messaging URL listing every broker (one for active/passive)."""
    return "rabbit://" + ",".join(f"{user}:{password}@{h}:{port}" for h in hosts) + "/"


def fragment_path(project: str) -> str:
    # oslo.config reads /etc/<project>/<project>.conf.d/ after <project>.conf.
    return f"/etc/{project}/{project}.conf.d/100-ha-openstack.conf"


def service_fragment(
    project: str,
    services: list[str],
    *,
    bind_host: str,
    database_url: str | None,
    transport: str | None,
    auth_url: str,
    service_password: str,
    memcached_servers: list[str] | None = None,
    extra_sections: dict[str, dict[str, str]] | None = None,
) -> str:
    """The [section] option lines that bind a project's services to the VIP and the HA backends."""
    sections: dict[str, dict[str, str]] = {"DEFAULT": {}}
    for name in services:
        info = SERVICES[name]
        if info.project == project and info.bind_option:
            section, option = info.bind_option
            sections.setdefault(section, {})[option] = bind_host
    if database_url:
        sections["database"] = {"connection": database_url}
    if transport:
        sections["DEFAULT"]["transport_url"] = transport
    if project != "keystone":
        sections["keystone_authtoken"] = {
            "www_authenticate_uri": auth_url, "auth_url": auth_url, "auth_type": "password",
            "project_domain_name": "Default", "user_domain_name": "Default",
            "project_name": "service", "username": project, "password": service_password,
        }
    if memcached_servers:
        sections.setdefault("cache", {}).update({
            "enabled": "true", "backend": "oslo_cache.memcache_pool",
            "memcache_servers": ",".join(memcached_servers)})
        if "keystone_authtoken" in sections:
            sections["keystone_authtoken"]["memcached_servers"] = ",".join(memcached_servers)
    for section, options in (extra_sections or {}).items():
        sections.setdefault(section, {}).update(options)
    return render_template("openstack-fragment.conf.j2", project=project,
                           sections={k: v for k, v in sections.items() if v})


def database_sql(projects: list[str], passwords: dict[str, str]) -> str:
    """CREATE DATABASE/USER statements; re-running them sets the same state again."""
    return render_template("openstack-databases.sql.j2", databases=[
        {"name": p, "user": p, "password": _sql_string(passwords[p])} for p in projects])


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def admin_openrc(password: str, auth_url: str, region: str) -> str:
    return render_template("admin-openrc.j2", password=_sh_single(password), auth_url=auth_url,
                           region=region)


def _sh_single(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def api_projects(services: list[str]) -> list[str]:
    return projects_of(services)
