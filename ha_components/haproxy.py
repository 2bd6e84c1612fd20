"""HaproxyFrontend: HAProxy on every load-balancer node, cloned by Pacemaker, checked before reload."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pulumi

from . import remote
from .models import Host, Network, Vip
from .models.haproxy import HaproxySpec, PlannedListener
from .pacemaker import CibCluster
from .render import render_template
from .render.cib import CibChange, Clone, Location, Op, Primitive
from .render.haproxy import CONFIG_PATH, STAGED_PATH, SYSCTL_PATH, TLS_PEM_PATH, haproxy_cfg, sysctl_conf, tls_pem
from .types import Token
from .vip import ServiceVipArgs, service_vip_cib

CLONE_ID = "cl_haproxy"


@dataclass
class HaproxyFrontendArgs:
    spec: HaproxySpec
    hosts: list[Host]  # the HAProxy nodes, in spec.nodes order (all Pacemaker nodes)
    plan: list[PlannedListener]  # models.active_active.frontend_plan(stack)
    cluster: CibCluster  # a PacemakerCluster, or the package's reference to one
    # haproxy.tls: its public VIP (follows the clone like the API VIP) and the stack's networks.
    public_vip: Vip | None = None
    networks: list[Network] = field(default_factory=list)


def haproxy_cib(owner: str, spec: HaproxySpec, cluster_nodes: list[str]) -> CibChange:
    """A clone of systemd:haproxy, kept off Pacemaker nodes that are no load balancers."""
    primitive = Primitive("p_haproxy", "systemd:haproxy", ops=(
        Op("start", timeout="60s"), Op("stop", timeout="60s"), Op("monitor", "10s", timeout="20s")))
    clone = Clone(CLONE_ID, primitive, meta={"interleave": "true"})
    away = tuple(Location(f"l_{CLONE_ID}_not_{node}", CLONE_ID, node, "-INFINITY")
                 for node in cluster_nodes if node not in spec.nodes)
    return CibChange(owner, resources=(clone,), constraints=away)


class HaproxyFrontend(pulumi.ComponentResource):
    """`clone_id` is what the VIP colocates with (OpenStackServiceVip colocate_with)."""

    def __init__(self, name: str, args: HaproxyFrontendArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(Token.HAPROXY_FRONTEND, name, None, opts)
        spec, cluster = args.spec, args.cluster
        self.checks: list[pulumi.Resource] = []
        self.activations: list[pulumi.Resource] = []
        for host in args.hosts:
            node = remote.connect(host)
            n = f"{name}-{node.name}"
            # Pacemaker starts and stops HAProxy: its unit stays disabled at boot.
            pkgs = remote.run(f"{n}-packages", node, render_template(
                "scripts/packages.sh.j2", packages=["haproxy"], disable_units=["haproxy"]), parent=self)
            sysctl = remote.push_file(f"{n}-sysctl", node, SYSCTL_PATH, sysctl_conf(), parent=self)
            nonlocal_bind = remote.run(f"{n}-sysctl-apply", node, render_template(
                "scripts/sysctl-apply.sh.j2", path=SYSCTL_PATH), parent=self, depends_on=[sysctl],
                triggers=[remote.content_hash(sysctl_conf())])
            config = haproxy_cfg(spec, args.plan, str(host.addresses[spec.link]))
            pem = tls_pem(spec.tls.certificate, spec.tls.key.get_secret_value()) if spec.tls else ""
            # A new certificate or key reloads HAProxy like a new config does.
            digest = remote.content_hash(pulumi.Output.secret(config + pem))
            certs = [remote.push_file(f"{n}-tls-pem", node, TLS_PEM_PATH, pem, parent=self, depends_on=[pkgs],
                                      mode="0600", secret=True)] if spec.tls else []
            staged = remote.push_file(f"{n}-config", node, STAGED_PATH, config, parent=self,
                                      depends_on=[pkgs, *certs], mode="0640", group="haproxy", secret=True)
            check = remote.run(f"{n}-config-check", node, render_template(
                "scripts/haproxy-check.sh.j2", staged=STAGED_PATH), parent=self, depends_on=[staged],
                triggers=[digest])
            activate = remote.run(f"{n}-reload", node, render_template(
                "scripts/haproxy-activate.sh.j2", staged=STAGED_PATH, config=CONFIG_PATH), parent=self,
                depends_on=[check, nonlocal_bind], triggers=[digest])
            self.checks.append(check)
            self.activations.append(activate)
        self.cib = cluster.cib_change(haproxy_cib(name, spec, cluster.spec.nodes), parent=self,
                                      depends_on=self.activations)
        # The public (TLS) VIP follows the clone, as the API VIP does (vip.service_vip_cib).
        self.public_vip_cib = cluster.cib_change(dataclasses.replace(service_vip_cib(
            "public", ServiceVipArgs(args.public_vip, args.networks, cluster, colocate_with=CLONE_ID)),
            owner=f"{name}-public-vip"), parent=self, depends_on=[self.cib]) if args.public_vip else None
        self.ca_certificate = pulumi.Output.from_input(spec.tls.ca_certificate if spec.tls else None)

        self.clone_id = CLONE_ID
        self.listeners = pulumi.Output.from_input(remote.resolve({p.name: f"{p.bind[0]}:{p.bind[1]}" for p in args.plan}))
        self.stats_urls = pulumi.Output.from_input(remote.resolve(
            [f"http://{h.addresses[spec.link]}:{spec.stats_port}/" for h in args.hosts]))
        self.register_outputs({"clone_id": self.clone_id, "listeners": self.listeners,
                               "stats_urls": self.stats_urls, "ca_certificate": self.ca_certificate})
