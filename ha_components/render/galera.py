"""Galera files and SQL: the wsrep configuration, the SST account, the health check units."""
from __future__ import annotations

from ..models import Host
from ..models.galera import SEED_OPTIONS, GaleraSpec
from . import render_template
from .openstack import _sql_string

CONFIG_PATH = "/etc/mysql/mariadb.conf.d/99-ha-openstack-galera.cnf"
SST_CONFIG_PATH = "/etc/mysql/mariadb.conf.d/99-ha-openstack-galera-sst.cnf"
# The members (wsrep_cluster_address) in a file of their own, outside the restart stamp: a
# running node learns members from the cluster, the list only matters when a node starts.
MEMBERS_PATH = "/etc/mysql/mariadb.conf.d/99-ha-openstack-galera-members.cnf"
HEALTH_SCRIPT = "/usr/local/sbin/ha-galera-health"
HEALTH_UNIT = "ha-galera-health.service"
HEALTH_SERVICE = f"/etc/systemd/system/{HEALTH_UNIT}"
# Before the long-running service, a socket-activated process per check (the files of an
# older deployment, removed when the service takes the port over).
OLD_HEALTH_UNITS = {"ha-galera-health.socket": "/etc/systemd/system/ha-galera-health.socket",
                    "ha-galera-health@.service": "/etc/systemd/system/ha-galera-health@.service"}
RECOVER_SCRIPT = "/usr/local/sbin/ha-galera-recover"
GARB_DEFAULTS = "/etc/default/garb"
CONFIG_STAMP = "/var/lib/ha-openstack/galera-config.sha256"  # also in files/ha-galera-recover
PROVIDER = "/usr/lib/galera/libgalera_smm.so"


def node_address(spec: GaleraSpec, host: Host) -> str:
    return str(host.addresses[spec.link])


def cluster_address(spec: GaleraSpec, hosts: list[Host]) -> str:
    """gcomm:// with every node: a node never bootstraps from this list, it only joins."""
    return "gcomm://" + ",".join(node_address(spec, h) for h in hosts)


def galera_members_cnf(spec: GaleraSpec, hosts: list[Host]) -> str:
    """The cluster's members: grown or shrunk without restarting the running nodes."""
    return render_template("galera-members.cnf.j2", cluster_address=cluster_address(spec, hosts))


def galera_cnf(spec: GaleraSpec, host: Host) -> str:
    """The [mysqld] options of one node (no secret: the SST account is in its own file, the
    members in theirs)."""
    return render_template(
        "galera.cnf.j2",
        bind_address=node_address(spec, host),
        port=spec.port,
        max_connections=spec.max_connections,
        seed_options=SEED_OPTIONS,
        options=spec.options,
        provider=PROVIDER,
        cluster_name=spec.cluster_name,
        node_name=host.name,
        node_address=node_address(spec, host),
        sst_method=spec.sst_method,
        provider_options=provider_options(spec),
    )


def provider_options(spec: GaleraSpec) -> str | None:
    """wsrep_provider_options from the stack's settings (None: Galera's defaults)."""
    options = []
    if spec.suspect_timeout_ms is not None:
        # Galera refuses to start unless evs.keepalive_period (default 1 s) is below a third of
        # the suspect timeout ("out of range [PT0.1S,PT0.666667S)" for PT2S): a quarter, at most 1 s.
        keepalive = min(1000, spec.suspect_timeout_ms / 4)
        options += [f"evs.suspect_timeout=PT{spec.suspect_timeout_ms / 1000:g}S",
                    f"evs.keepalive_period=PT{keepalive / 1000:g}S"]
    return "; ".join(options) or None


def galera_sst_cnf(spec: GaleraSpec) -> str:
    """wsrep_sst_auth (user:password) alone in a 0640 root:mysql file."""
    return render_template("galera-sst.cnf.j2", user=spec.sst_user,
                           password=spec.sst_password.get_secret_value())


def accounts_sql(spec: GaleraSpec, databases_sql: str) -> str:
    """The SST account (mariabackup's privileges, local only) and the OpenStack databases."""
    return render_template("galera-accounts.sql.j2", user=spec.sst_user,
                           password=_sql_string(spec.sst_password.get_secret_value()),
                           databases_sql=databases_sql)


def health_service(spec: GaleraSpec, host: Host, allowed: list[str]) -> str:
    """The health endpoint's unit: one process on the node address, open to `allowed` only."""
    return render_template("ha-galera-health.service.j2", script=HEALTH_SCRIPT, address=node_address(spec, host),
                           port=spec.health_port, allowed=allowed)


def garb_defaults(spec: GaleraSpec, hosts: list[Host]) -> str:
    return render_template("garb.j2", cluster_name=spec.cluster_name,
                           nodes=[f"{node_address(spec, h)}:4567" for h in hosts])
