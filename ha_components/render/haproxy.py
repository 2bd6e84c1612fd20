"""haproxy.cfg: the seed's global/defaults and listen sections, stats on the management side."""
from __future__ import annotations

from ..models.haproxy import HaproxySpec, PlannedListener, ServerCheck
from . import render_template

CONFIG_PATH = "/etc/haproxy/haproxy.cfg"
STAGED_PATH = "/etc/haproxy/haproxy.cfg.ha-openstack"
SYSCTL_PATH = "/etc/sysctl.d/60-ha-openstack-haproxy.conf"
ADMIN_SOCKET = "/run/haproxy/admin.sock"  # Debian's path: `set server` and `show stat` (drains)
# haproxy.tls: certificate chain and key in one file (HAProxy's `crt`), 0600 root: HAProxy
# loads it as root before it drops to its user.
TLS_PEM_PATH = "/etc/haproxy/ha-openstack-public.pem"
# What the services behind a TLS-terminating HAProxy read: the scheme clients used comes in
# X-Forwarded-Proto, so version documents and redirects say https:// (oslo.middleware's
# http_proxy_to_wsgi, in keystone's and glance's pipelines).
PROXY_HEADERS = {"oslo_middleware": {"enable_proxy_headers_parsing": "true"}}
# Check timing on every server line (haproxy.check; haproxy.galera_check for Galera). The
# seed's `inter 2000 rise 2 fall 5` took 18.5 s to mark a powered-off Galera writer DOWN on
# the lab (each failed check waits its 2 s connect timeout, then 2 s until the next): the
# database was unwritable that long (issue 6 drill). The default now: a check every 1 s
# (connect timeout min(timeout connect, inter) = 1 s), every 0.5 s once one failed, DOWN after
# 3 failures (~5 s); every 2 s while DOWN; UP after 2 passes.
def check_words(check: ServerCheck, port: int | None = None) -> str:
    return (f"check{'' if port is None else f' port {port}'} inter {check.inter_ms} fastinter {check.fastinter_ms} "
            f"downinter {check.downinter_ms} rise {check.rise} fall {check.fall}")


def _section(listener: PlannedListener, check: ServerCheck) -> dict:
    spec = listener.spec
    # GET, not HAProxy's default OPTIONS: placement answers OPTIONS with 405 (every backend DOWN).
    options = (["tcpka"] if spec.tcpka else []) + (["httpchk GET /"] if spec.http_check else []) + ["tcplog"]
    servers = []
    for server in listener.servers:
        words = [check_words(check, listener.check_port)]
        if server.backup:
            words.append("backup")
        if spec.single_writer:
            words.append("on-marked-down shutdown-sessions")
        servers.append({"name": server.host, "address": f"{server.address}:{server.port}",
                        "options": " ".join(words)})
    bind = f"{listener.bind[0]}:{listener.bind[1]}"
    if listener.tls:  # HTTP mode: HAProxy decrypts and tells the service the client's scheme
        bind += f" ssl crt {TLS_PEM_PATH}"
        options = [o for o in options if o != "tcplog"] + ["httplog", "forwardfor"]
    return {"name": f"{listener.name}_cluster", "bind": bind, "mode": "http" if listener.tls else None,
            "check_timeout_ms": check.timeout_ms,
            "http_request": ["set-header X-Forwarded-Proto https"] if listener.tls else [],
            "balance": spec.balance, "options": options, "timeout": spec.timeout, "servers": servers}


def tls_pem(certificate: str, key: str) -> str:
    """The file HAProxy's `crt` reads: the certificate chain, then the key."""
    return certificate.strip() + "\n" + key.strip() + "\n"


def haproxy_cfg(spec: HaproxySpec, plan: list[PlannedListener], stats_address: str) -> str:
    """One node's haproxy.cfg (the stats page binds that node's management address)."""
    return render_template(
        "haproxy.cfg.j2", maxconn=spec.maxconn, admin_socket=ADMIN_SOCKET,
        stats_bind=f"{stats_address}:{spec.stats_port}",
        stats_auth=f"{spec.stats_user}:{spec.stats_password.get_secret_value()}",
        listeners=[_section(p, listener_check(spec, p)) for p in plan])


def listener_check(spec: HaproxySpec, listener: PlannedListener) -> ServerCheck:
    """haproxy.galera_check for the Galera listener when set, else haproxy.check."""
    if listener.name == "galera" and listener.loc[:2] == ("haproxy", "listeners") and spec.galera_check:
        return spec.galera_check
    return spec.check


def sysctl_conf() -> str:
    return render_template("haproxy-sysctl.conf.j2")
