"""RabbitHACluster: rabbitmq-server on every node, one cookie, declarative cluster formation."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi

from . import remote
from .models import Host
from .models.rabbitmq import RabbitSpec
from .render import render_template, stop_units
from .render.rabbitmq import (CONFIG_PATH, CONFIG_STAMP, COOKIE_PATH, DEFINITIONS_PATH, ENV_PATH, MEMBERS_PATH,
                              cluster_transport_url, definitions, hosts_entries, vhosts, oslo_messaging_settings,
                              rabbitmq_conf, rabbitmq_env, rabbitmq_members_conf, users_stdin)
from .types import Token


@dataclass
class RabbitHAClusterArgs:
    spec: RabbitSpec
    hosts: list[Host]  # the broker nodes, in spec.nodes order


class RabbitHACluster(pulumi.ComponentResource):
    """Every node running in one cluster when `ready` is done.

    Order on each node: package installed without starting -> cookie (0400 rabbitmq), env
    and config -> start; nodes start one after the other, a blank node joins its peers
    by classic_config discovery (or, if it booted alone, an idempotent join_cluster).
    """

    def __init__(self, name: str, args: RabbitHAClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(Token.RABBIT_HA_CLUSTER, name, None, opts)
        spec = args.spec
        nodes = [remote.connect(h) for h in args.hosts]
        first = f"rabbit@{nodes[0].name}"
        previous: list[pulumi.Resource] = []
        configs: list[str] = []
        members_conf = rabbitmq_members_conf(spec)
        self.cookies: list[pulumi.Resource] = []
        self.starts: list[pulumi.Resource] = []
        for host, node in zip(args.hosts, nodes):
            n = f"{name}-{node.name}"
            names = remote.run(f"{n}-hosts", node, render_template(
                "scripts/hosts-block.sh.j2", path="/etc/hosts", owner="rabbitmq",
                lines=hosts_entries(spec, args.hosts)),
                parent=self)
            pkgs = remote.run(f"{n}-packages", node, render_template("scripts/rabbitmq-packages.sh.j2"),
                              parent=self)
            cookie = remote.push_file(f"{n}-cookie", node, COOKIE_PATH, spec.erlang_cookie.get_secret_value(),
                                      parent=self, depends_on=[pkgs], mode="0400", owner="rabbitmq",
                                      group="rabbitmq", secret=True, keep_on_delete=True)
            env_text, conf_text = rabbitmq_env(spec, host), rabbitmq_conf(spec, host)
            configs.append(env_text + conf_text)
            env = remote.push_file(f"{n}-env", node, ENV_PATH, env_text, parent=self,
                                   depends_on=[pkgs], keep_on_delete=True)
            conf = remote.push_file(f"{n}-config", node, CONFIG_PATH, conf_text, parent=self,
                                    depends_on=[pkgs], keep_on_delete=True)
            # Not in the rolling restart's stamp: growing the cluster restarts no running node.
            members = remote.push_file(f"{n}-members", node, MEMBERS_PATH, members_conf, parent=self,
                                       depends_on=[pkgs], keep_on_delete=True)
            self.cookies.append(cookie)
            start = remote.run(f"{n}-start", node, render_template(
                "scripts/rabbitmq-start.sh.j2", nodename=f"rabbit@{node.name}", first=not previous,
                first_node=first, members=MEMBERS_PATH, timeout_seconds=spec.timeout_seconds, stamp=CONFIG_STAMP,
                files=[ENV_PATH, CONFIG_PATH]),
                parent=self, depends_on=[names, cookie, env, conf, members, *previous],
                # Destroy stops the nodes in reverse order; the first node, stopped last,
                # can start again on its own, with the queues and users on disk.
                delete=stop_units("rabbitmq-server"))
            self.starts.append(start)
            previous = [start]

        head = nodes[0]
        running = remote.run(f"{name}-running", head, render_template(
            "scripts/rabbitmq-wait.sh.j2", nodes=spec.node_names, timeout_seconds=spec.timeout_seconds),
            parent=self, depends_on=self.starts)
        # A changed config or env is applied by a rolling restart, one node at a time, each
        # back in the running cluster before the next (a no-op when nothing changed).
        rolled: pulumi.Resource = running
        wait_all = render_template("scripts/rabbitmq-wait.sh.j2", nodes=spec.node_names,
                                   timeout_seconds=spec.timeout_seconds)
        for node, text in zip(nodes, configs):
            rolled = remote.run(f"{name}-{node.name}-rolling-restart", node, render_template(
                "scripts/rolling-restart.sh.j2", service="rabbitmq-server", stamp=CONFIG_STAMP,
                files=[ENV_PATH, CONFIG_PATH], wait=wait_all), parent=self, depends_on=[rolled],
                triggers=[remote.content_hash(text)])
        users = remote.run(f"{name}-users", head, render_template(
            "scripts/rabbitmq-users.sh.j2", users=spec.users, timeout_seconds=spec.timeout_seconds),
            parent=self, depends_on=[rolled], stdin=users_stdin(spec), secret=True)
        defs = definitions(spec)
        pushed = remote.push_file(f"{name}-definitions-file", head, DEFINITIONS_PATH, defs, parent=self,
                                  depends_on=[running])
        self.ready = remote.run(f"{name}-definitions", head, render_template(
            "scripts/rabbitmq-definitions.sh.j2", path=DEFINITIONS_PATH,
            classic_mirrored=spec.queue_ha == "classic-mirrored", vhosts=vhosts(spec),
            timeout_seconds=spec.timeout_seconds),
            parent=self, depends_on=[users, pushed], triggers=[remote.content_hash(defs)])

        self.transport_url = pulumi.Output.secret(remote.resolve(cluster_transport_url(spec, args.hosts)))
        self.settings = pulumi.Output.from_input(oslo_messaging_settings(spec))
        self.nodes = pulumi.Output.from_input(spec.node_names)
        self.register_outputs({"transport_url": self.transport_url, "settings": self.settings,
                               "nodes": self.nodes})
