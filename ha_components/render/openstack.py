"""OpenStack service configuration fragments, database statements and URLs."""
from __future__ import annotations

from urllib.parse import quote

from ..catalog import SERVICES, projects_of
from ..models.base import SECRET_PLACEHOLDER_PREFIX
from . import render_template


def userinfo(user: str, password: str) -> str:
    """`user:password` for a URL, percent-encoded: `@ / : # ? % $ '` in a password stay data.
    SQLAlchemy and oslo.messaging decode it; `$` becomes %24, so oslo.config's `$name`
    substitution never sees it either."""
    if password.startswith(SECRET_PLACEHOLDER_PREFIX):  # `render` output stays readable
        return f"{quote(user, safe='')}:{password}"
    return f"{quote(user, safe='')}:{quote(password, safe='')}"


def sqlalchemy_url(project: str, password: str, db_host: str) -> str:
    return f"mysql+pymysql://{userinfo(project, password)}@{db_host}/{project}"


def transport_url(user: str, password: str, hosts: list[str], port: int = 5672) -> str:
    """oslo.messaging URL listing every broker (one for active/passive)."""
    return "rabbit://" + ",".join(f"{userinfo(user, password)}@{h}:{port}" for h in hosts) + "/"


def ini_literal(value: str) -> str:
    """A value oslo.config reads back verbatim: `$` starts a substitution there, `$$` is one `$`."""
    return value.replace("$", "$$")


# Options a project needs beyond the VIP binding and the HA backends, before the stack's own
# `openstack.settings`. Glance's file store is the node's own disk: an image uploaded through
# one controller is stored on that controller only; HA image storage (Ceph, Swift, a shared
# filesystem mounted at the datadir) is set through `openstack.settings.glance`.
PROJECT_DEFAULTS: dict[str, dict[str, dict[str, str]]] = {
    "glance": {
        "paste_deploy": {"flavor": "keystone"},
        "glance_store": {"stores": "file,http", "default_store": "file",
                         "filesystem_store_datadir": "/var/lib/glance/images/"},
    },
}


def config_dir(project: str) -> str:
    return f"/etc/{project}/{project}.conf.d"


def fragment_path(project: str) -> str:
    # oslo.config reads /etc/<project>/<project>.conf.d/ after <project>.conf (the default
    # files), but before a file given with --config-file: see init_defaults.
    return f"{config_dir(project)}/100-ha-openstack.conf"


def init_defaults_path(unit: str) -> str:
    """Read by Debian's /etc/init.d/<unit> (openstack-pkg-tools) after it set DAEMON_ARGS."""
    return f"/etc/default/{unit}"


def init_defaults(project: str) -> str:
    """Debian's init scripts start non-uwsgi services with --config-file=<the package's conf>,
    which oslo.config reads after the default config dirs: the package's options (glance's
    auth_url = http://localhost:5000) would win over the fragment. An explicit --config-dir
    after it is read last."""
    return render_template("openstack-init-default.j2", config_dir=config_dir(project))


def keystone_defaults(address: str, port: int = 5000, processes: int | None = None) -> str:
    """keystone's uwsgi listens on the node's address; after --ini, so that --processes
    overrides the ini file's `processes = 8`."""
    args = f"--http-socket {address}:{port} --ini /etc/keystone/keystone-uwsgi.ini"
    return render_template("keystone-default.j2", daemon_args=args + (f" --processes {processes}" if processes else ""))


def service_fragment(
    project: str,
    services: list[str],
    *,
    bind_host: str,
    database_url: str | None,
    transport: str | None,
    auth_url: str,
    service_password: str,
    region: str,
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
            "project_name": "service", "username": project, "password": ini_literal(service_password),
            # The package's own conf says regionOne; keystone's endpoints are in the stack's region.
            "region_name": region,
        }
    if memcached_servers:
        sections.setdefault("cache", {}).update({
            "enabled": "true", "backend": "oslo_cache.memcache_pool",
            "memcache_servers": ",".join(memcached_servers)})
        if "keystone_authtoken" in sections:
            sections["keystone_authtoken"]["memcached_servers"] = ",".join(memcached_servers)
    for part in (PROJECT_DEFAULTS.get(project, {}), extra_sections or {}):
        for section, options in part.items():
            sections.setdefault(section, {}).update(options)
    return render_template("openstack-fragment.conf.j2", project=project,
                           sections={k: v for k, v in sections.items() if v})


def database_sql(projects: list[str], passwords: dict[str, str]) -> str:
    """CREATE DATABASE/USER statements; re-running them sets the same state again."""
    return render_template("openstack-databases.sql.j2", databases=[
        {"name": p, "user": p, "password": _sql_string(passwords[p])} for p in projects])


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


# Keystone admin credentials on the cluster's first node (root only).
ADMIN_OPENRC = "/root/.ha-openstack-admin-openrc"


def admin_openrc(password: str, auth_url: str, region: str) -> str:
    return render_template("admin-openrc.j2", password=_sh_single(password), auth_url=_sh_single(auth_url),
                           region=_sh_single(region))


def _sh_single(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def api_projects(services: list[str]) -> list[str]:
    return projects_of(services)
