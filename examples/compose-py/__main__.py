"""A program that composes ha-openstack: its machines come from another resource.

On the lab a machine is a `command:local:Command` that reads a lab machine's addresses and
SSH host key from the machine itself (through `tools/lab ssh`, which pins the lab's known host
key). In a cloud it would be a server resource of that cloud's provider. Either way the
addresses and the host key are Outputs: `ha_components.inputs.stack_with_inputs` takes them,
so `pulumi preview` shows the whole graph before the machines exist, and the checks on their
values (subnets, duplicates, the VIP's network) run at deploy time with the stack file's
field-named messages.

Everything else (the cluster, Galera, RabbitMQ, HAProxy, the VIP, keystone and glance, the
secrets) is the stack's config under the `ha-openstack:` namespace, as in stacks/.
"""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
if (CHECKOUT / "ha_components").is_dir():  # run from this repository: its components first
    sys.path.insert(0, str(CHECKOUT))

import pulumi  # noqa: E402
from pulumi_command import local  # noqa: E402

import ha_components  # noqa: E402
from ha_components.inputs import InNetwork, stack_with_inputs  # noqa: E402
from ha_components.models import StackConfigError  # noqa: E402
from ha_components.stackfile import config_from_engine  # noqa: E402
from ha_components.topologies import build  # noqa: E402

config = pulumi.Config()
LAB = config.get("labTool") or str(Path(ha_components.__file__).resolve().parents[1] / "tools" / "lab")
KEY = config.get("privateKeyPath") or "/var/lib/ha-openstack-lab/ssh/id_ed25519"
MACHINES = config.get_object("machines") or ["ctl1", "ctl2", "ctl3"]

# What a machine reports: its first address on each cluster link and its ed25519 host key.
REPORT = r"""printf '{"mgmt": "%s", "ring1": "%s", "host_key": "%s"}\n' \
  "$(ip -4 -o addr show dev eth0 scope global | awk 'NR==1 {split($4, a, "/"); print a[1]}')" \
  "$(ip -4 -o addr show dev eth1 scope global | awk 'NR==1 {split($4, a, "/"); print a[1]}')" \
  "$(cut -d' ' -f1-2 /etc/ssh/ssh_host_ed25519_key.pub)"
"""


def machine(name: str) -> pulumi.Output[dict[str, str]]:
    report = local.Command(f"machine-{name}", create=f"{shlex.quote(LAB)} ssh {name} {shlex.quote(REPORT)}")
    return report.stdout.apply(json.loads)


hosts = []
for name in MACHINES:
    m = machine(name)
    hosts.append({
        "name": name,
        "ssh": {"host": m["mgmt"], "private_key_path": KEY, "host_key": m["host_key"]},
        "addresses": [InNetwork(m["mgmt"], "mgmt"), InNetwork(m["ring1"], "ring1")],
    })

try:
    stack = stack_with_inputs({**config_from_engine(), "hosts": hosts})
except StackConfigError as err:
    raise SystemExit(f"invalid stack configuration:\n{err}") from None

for key, value in build(stack).items():
    pulumi.export(key, value)
