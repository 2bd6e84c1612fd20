"""RabbitMQ cluster files: rabbitmq.conf, rabbitmq-env.conf, definitions, oslo.messaging settings."""
from __future__ import annotations

import json

from ..models import Host
from ..models.rabbitmq import RabbitSpec
from . import render_template
from .openstack import transport_url

CONFIG_PATH = "/etc/rabbitmq/rabbitmq.conf"
ENV_PATH = "/etc/rabbitmq/rabbitmq-env.conf"
COOKIE_PATH = "/var/lib/rabbitmq/.erlang.cookie"
DEFINITIONS_PATH = "/etc/rabbitmq/ha-openstack-definitions.json"
CONFIG_STAMP = "/var/lib/ha-openstack/rabbitmq-config.sha256"
# The peers a blank node joins, in a file of their own (RabbitMQ reads conf.d/*.conf after
# rabbitmq.conf) outside the restart stamp: only a node's first boot reads them.
MEMBERS_PATH = "/etc/rabbitmq/conf.d/50-ha-openstack-members.conf"
# The seed's policy: mirror every queue but the built-in amq.* ones (RabbitMQ < 4 only).
HA_ALL_PATTERN = r"^(?!amq\.).*"


def node_address(spec: RabbitSpec, host: Host) -> str:
    return str(host.addresses[spec.link])


def rabbitmq_conf(spec: RabbitSpec, host: Host) -> str:
    return render_template(
        "rabbitmq.conf.j2", node=host.name, address=node_address(spec, host), port=spec.port,
        partition_handling=spec.partition_handling)


def rabbitmq_members_conf(spec: RabbitSpec) -> str:
    """classic_config peer discovery: the cluster a blank node joins (none for one node)."""
    return render_template("rabbitmq-members.conf.j2", peers=spec.node_names if len(spec.nodes) > 1 else [])


def rabbitmq_env(spec: RabbitSpec, host: Host) -> str:
    return render_template("rabbitmq-cluster-env.conf.j2", nodename=f"rabbit@{host.name}",
                           dist_port=spec.dist_port)


def hosts_entries(spec: RabbitSpec, hosts: list[Host]) -> list[str]:
    """/etc/hosts lines so every node resolves the others' short names (Erlang node names)."""
    return [f"{node_address(spec, h)} {h.name}" for h in hosts]


def vhosts(spec: RabbitSpec) -> list[str]:
    return list(dict.fromkeys(u.vhost for u in spec.users))


def definitions(spec: RabbitSpec) -> str:
    """Vhosts, permissions and policies (no users: their passwords go on stdin)."""
    policies = []
    if spec.queue_ha == "classic-mirrored":
        policies = [{"vhost": v, "name": "ha-all", "pattern": HA_ALL_PATTERN, "apply-to": "queues",
                     "definition": {"ha-mode": "all", "ha-sync-mode": "automatic"}, "priority": 0}
                    for v in vhosts(spec)]
    doc = {
        "vhosts": [{"name": v} for v in vhosts(spec)],
        "permissions": [{"user": u.name, "vhost": u.vhost, "configure": u.configure, "write": u.write,
                         "read": u.read} for u in spec.users],
        "policies": policies,
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def users_stdin(spec: RabbitSpec) -> str:
    """One password per line, in `users` order (the script names the users)."""
    return "".join(u.password.get_secret_value() + "\n" for u in spec.users)


def oslo_messaging_settings(spec: RabbitSpec) -> dict[str, dict[str, str]]:
    """What OpenStack services need besides transport_url ([oslo_messaging_rabbit])."""
    common = {"rabbit_retry_interval": "1", "rabbit_retry_backoff": "2",
              "heartbeat_timeout_threshold": "60"}
    if spec.queue_ha == "quorum":
        queues = {"rabbit_quorum_queue": "true", "amqp_durable_queues": "true"}
    else:  # the seed's settings for classic mirrored queues
        queues = {"rabbit_ha_queues": "true", "amqp_durable_queues": "false"}
    return {"oslo_messaging_rabbit": {**common, **queues}}


def cluster_transport_url(spec: RabbitSpec, hosts: list[Host]) -> str:
    user = spec.users[0]
    url = transport_url(user.name, user.password.get_secret_value(),
                        [node_address(spec, h) for h in hosts], spec.port)
    return url if user.vhost == "/" else url + user.vhost
