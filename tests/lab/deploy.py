"""A lab deployment through the real engine, shared by the deployment tests of both tiers:
a cold `pulumi up`, then a second `up` that must change nothing and open no SSH session."""
from __future__ import annotations

import json
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator

from .conftest import NODES, REPO, EngineStack, EngineUp, deployed_stack, on, output


def ssh_logins(node: str, kernel: bool = False) -> int:
    """sshd logins so far on node, this query's own included (it waits for the journal)."""
    out = on(node, "sleep 1; journalctl -u ssh -o cat --no-pager | grep -c 'Accepted publickey' || true",
             kernel=kernel).stdout
    return int(out.strip() or 0)


@dataclass
class Deployment:
    stack: EngineStack
    first: EngineUp
    second: EngineUp
    logins_during_second: dict[str, int]
    resources: int
    stack_file: Path  # the stack config both `up`s used

    def output(self, key: str) -> Any:
        return output(self.first, key)


def deployed(stack_name: str, work: Path, kernel: bool = False, stack_file: Path | None = None,
             around_up: Callable[[], ContextManager[Any]] | None = None) -> Iterator[Deployment]:
    """For a module fixture: a fresh deployment (conftest.deployed_stack), then a second `up`
    that must change nothing; the tier is reset again at the end."""
    stack_file = stack_file or REPO / "stacks" / f"Pulumi.{stack_name}.yaml"
    with deployed_stack(work, stack_name, kernel=kernel, stack_file=stack_file,
                        around_up=around_up) as deployment:
        stack, first = deployment.stack, deployment.first
        before = {n: ssh_logins(n, kernel) for n in NODES}
        second = stack.up(stack_file)
        logins = {n: ssh_logins(n, kernel) - before[n] - 1 for n in NODES}
        # The engine counts resources without the provider instance the state also holds.
        resources = len([r for r in stack.resources() if not r["type"].startswith("pulumi:providers:")])
        print(f"\n{stack_name}: reset {deployment.reset_seconds:.1f}s, cold up {first.seconds:.1f}s, "
              f"no-op up {second.seconds:.1f}s, {resources} resources in the state, "
              f"summaries {first.summary} / {second.summary}")
        yield Deployment(stack, first, second, logins, resources, stack_file)


RUNNING_ROLES = {"Started", "Promoted", "Unpromoted", "Master", "Slave"}


def crm_mon(kernel: bool = False) -> ET.Element:
    return ET.fromstring(on("ctl1", "crm_mon -1 --output-as=xml", kernel=kernel).stdout)


def assert_cluster_running(kernel: bool = False) -> list[ET.Element]:
    """Every node online, every resource running, no failed action, stonith enabled.
    Returns crm_mon's resources."""
    mon = crm_mon(kernel)
    nodes = {n.get("name"): n for n in mon.find("nodes")}
    assert sorted(nodes) == NODES
    for name, node in nodes.items():
        assert node.get("online") == "true" and node.get("unclean") == "false", f"{name}: {node.attrib}"
    resources = list(mon.find("resources").iter("resource"))
    assert resources, "no resources"
    for r in resources:
        assert r.get("role") in RUNNING_ROLES and r.get("active") == "true" and r.get("failed") == "false", r.attrib
    assert mon.find("failures") is None or len(mon.find("failures")) == 0, ET.tostring(mon.find("failures"))
    assert on("ctl1", "crm_attribute --type crm_config --name stonith-enabled --query --quiet",
              kernel=kernel).stdout.strip() == "true"
    return resources


OPENRC = "/root/.ha-openstack-admin-openrc"


def admin_token(vip: str, kernel: bool = False) -> tuple[str, list[dict]]:
    """A keystone token for the admin of the stack's openrc (read on ctl1), asked from the
    lab host at http://VIP:5000: (token, catalog)."""
    password = on("ctl1", f". {OPENRC} && printf %s \"$OS_PASSWORD\"", kernel=kernel).stdout
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    request = urllib.request.Request(f"http://{vip}:5000/v3/auth/tokens", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 201
        return response.headers["X-Subject-Token"], json.load(response)["token"]["catalog"]
