"""OpenStack service configuration fragments, database statements and URLs."""
from __future__ import annotations

from urllib.parse import quote

from ..catalog import PROJECTS, SERVICES, Unit, projects_of
from ..models.base import SECRET_PLACEHOLDER_PREFIX
from . import render_template


def userinfo(user: str, password: str) -> str:
    """`user:password` for a URL, percent-encoded: `@ / : # ? % $ '` in a password stay data.
    SQLAlchemy and oslo.messaging decode it; `$` becomes %24, so oslo.config's `$name`
    substitution never sees it either."""
    if password.startswith(SECRET_PLACEHOLDER_PREFIX):  # `render` output stays readable
        return f"{quote(user, safe='')}:{password}"
    return f"{quote(user, safe='')}:{quote(password, safe='')}"


def sqlalchemy_url(project: str, password: str, db_host: str, database: str | None = None) -> str:
    return f"mysql+pymysql://{userinfo(project, password)}@{db_host}/{database or project}"


def transport_url(user: str, password: str, hosts: list[str], port: int = 5672) -> str:
    """oslo.messaging URL listing every broker (one for active/passive)."""
    return "rabbit://" + ",".join(f"{userinfo(user, password)}@{h}:{port}" for h in hosts) + "/"


def ini_literal(value: str) -> str:
    """A value oslo.config reads back verbatim: `$` starts a substitution there, `$$` is one `$`."""
    return value.replace("$", "$$")


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


def uwsgi_defaults(unit: Unit, address: str | None, processes: int | None = None, conf_dir: str = "") -> str:
    """A uwsgi unit's socket (`address`: one address, None: every address) and process count,
    after --ini so that --processes overrides the ini file's. An init script that passes the
    app its own --config-dir (neutron-api's PYARGV) gets the project's conf dir after it."""
    assert unit.uwsgi_port and unit.uwsgi_ini
    socket = f"{address or ''}:{unit.uwsgi_port}"
    args = f"--http-socket {socket} --ini {unit.uwsgi_ini}" + (f" --processes {processes}" if processes else "")
    return render_template("uwsgi-default.j2", unit=unit.name, socket=socket, daemon_args=args, config_dir=conf_dir)


def unit_defaults(service: str, address: str | None, processes: int | None) -> list[tuple[str, str]]:
    """(path, content) of /etc/default/<unit> for each unit of a service."""
    info = SERVICES[service]
    return [(init_defaults_path(u.defaults_name), uwsgi_defaults(u, address, processes, config_dir(info.project))
             if u.uwsgi_port else init_defaults(info.project)) for u in info.units]


def auth_options(project: str, password: str, auth_url: str, region: str, *, scoped: bool = True) -> dict[str, str]:
    """Keystone credentials of a project's service user (in the "service" project)."""
    options = {"auth_url": auth_url, "auth_type": "password", "user_domain_name": "Default",
               "username": project, "password": ini_literal(password), "region_name": region}
    if scoped:
        options |= {"project_domain_name": "Default", "project_name": "service"}
    return options


# Sections that take a user but no project: heat's trustee acts through trusts.
UNSCOPED_AUTH_SECTIONS = frozenset({"trustee"})


def service_fragment(
    project: str,
    services: list[str],
    *,
    bind_host: str,
    database_urls: dict[tuple[str, str], str],
    transport: str | None,
    auth_url: str,
    service_password: str,
    region: str,
    memcached_servers: list[str] | None = None,
    workers: int | None = None,
    extra_sections: dict[str, dict[str, str]] | None = None,
) -> str:
    """The [section] option lines that bind a project's services to the VIP and the HA backends:
    the catalog's bindings, databases, auth sections and defaults, then `extra_sections`."""
    info = PROJECTS[project]
    sections: dict[str, dict[str, str]] = {"DEFAULT": {}}
    for name in services:
        service = SERVICES[name]
        if service.project == project and service.bind_option:
            section, option = service.bind_option
            sections.setdefault(section, {})[option] = bind_host
    for (section, option), url in database_urls.items():
        sections.setdefault(section, {})[option] = url
    if transport and info.uses_messaging:
        sections["DEFAULT"]["transport_url"] = transport
    if project != "keystone":
        sections["keystone_authtoken"] = {
            "www_authenticate_uri": auth_url,
            # The package's own conf says regionOne; keystone's endpoints are in the stack's region.
            **auth_options(project, service_password, auth_url, region)}
    for section in info.auth_sections:
        sections.setdefault(section, {}).update(auth_options(
            project, service_password, auth_url, region, scoped=section not in UNSCOPED_AUTH_SECTIONS))
    if memcached_servers:
        sections.setdefault("cache", {}).update({
            "enabled": "true", "backend": "oslo_cache.memcache_pool",
            "memcache_servers": ",".join(memcached_servers)})
        if "keystone_authtoken" in sections:
            sections["keystone_authtoken"]["memcached_servers"] = ",".join(memcached_servers)
    if workers:
        for section, option in info.worker_options:
            sections.setdefault(section, {})[option] = str(workers)
    for part in (info.defaults, extra_sections or {}):
        for section, options in part.items():
            sections.setdefault(section, {}).update(options)
    return render_template("openstack-fragment.conf.j2", project=project,
                           sections={k: v for k, v in sections.items() if v})


def database_urls(project: str, password: str, db_host: str) -> dict[tuple[str, str], str]:
    """(section, option) -> URL of each database a project's config names."""
    return {(section, option): sqlalchemy_url(project, password, db_host, database)
            for database, section, option in PROJECTS[project].databases if section}


def database_sql(databases: dict[str, str], passwords: dict[str, str]) -> str:
    """CREATE DATABASE/USER statements for database -> user; re-running them sets the same
    state again."""
    return render_template("openstack-databases.sql.j2", databases=[
        {"name": db, "user": user, "password": _sql_string(passwords[user])} for db, user in databases.items()])


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
