"""Issue 5, active/active: changes after the first deployment, then destroy and rebuild.

One deployment of stacks/Pulumi.lab-aa.yaml (keystone and glance only: conftest.lab_aa_core_text) for the module (a freshly reset lab), then in
order: one HAProxy setting changed, one Galera setting changed, `pulumi destroy`, and a
new `pulumi up` on the same hosts. Each step is a real engine run over SSH.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from engine_helpers import EngineStack, completed_steps  # tests/engine: on sys.path (conftest)

from .conftest import NODES, STACK_AA_FILE as STACK_FILE, deployed_lab_aa, lab_aa_core_text, on
from .deploy import admin_token

pytestmark = [pytest.mark.lab]

VIP = "10.77.1.110"
CLUSTER_UNITS = ("corosync", "pacemaker")


@dataclass
class Lab:
    stack: EngineStack
    tmp: Path
    resources: int
    timings: dict[str, float]

    edits: list[tuple[str, str]] = field(default_factory=list)  # (section, line), in order

    def stack_file(self, name: str, section: str, line: str) -> Path:
        """The lab stack with `line` added under `ha-openstack:<section>:`, after the earlier edits."""
        self.edits.append((section, line))
        return self.current(name)

    def current(self, name: str = "current") -> Path:
        """The lab stack with every edit so far, written to `<tmp>/<name>.yaml`."""
        text = lab_aa_core_text()
        for section, line in self.edits:
            key = f"  ha-openstack:{section}:\n"
            assert key in text, f"{section} is not in {STACK_FILE}"
            text = text.replace(key, f"{key}    {line}\n", 1)
        path = self.tmp / f"{name}.yaml"
        path.write_text(text)
        return path


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lab-aa-change")
    core = tmp / "core.yaml"
    core.write_text(lab_aa_core_text())
    with deployed_lab_aa(tmp / "engine", stack_file=core) as aa:
        stack = aa.stack
        resources = len([r for r in stack.resources() if not r["type"].startswith("pulumi:providers:")])
        timings = {"cold up": aa.first.seconds}
        yield Lab(stack, tmp, resources, timings)
        print("\nlab-aa changes: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())
              + f", {resources} resources")


def unit_starts(node: str) -> str:
    """Main PID and start time of the cluster stack's units: a restart changes both."""
    return on(node, "systemctl show -p Id -p MainPID -p ExecMainStartTimestampMonotonic "
                    + " ".join(CLUSTER_UNITS)).stdout.strip()


def updated(events_json: str) -> list[str]:
    return [urn for op, urn in completed_steps(events_json) if op not in ("same", "read")]


def galera_status(node: str) -> dict[str, str] | None:
    r = on(node, "mysql -N -B -e \"SHOW GLOBAL STATUS WHERE Variable_name IN "
                 "('wsrep_cluster_size','wsrep_cluster_status','wsrep_local_state_comment')\"",
           check=False, timeout=20)
    if r.returncode != 0 or not r.stdout.strip():
        return None  # restarting
    return dict(line.split("\t") for line in r.stdout.strip().splitlines())


def test_a_haproxy_setting_updates_only_haproxy_and_leaves_the_cluster_running(deployed):
    before = {n: unit_starts(n) for n in NODES}
    result = deployed.stack.up(deployed.stack_file("haproxy-maxconn", "haproxy", "maxconn: 5000"))
    deployed.timings["haproxy change up"] = result.seconds
    changed = updated(result.events_json)
    assert changed, "changing haproxy.maxconn changed nothing"
    outside = [u for u in changed if "HaproxyFrontend$" not in u]
    assert not outside, f"resources outside HAProxy changed: {outside}"
    # Per node: the staged config (updated), its `haproxy -c` check and the reload (run
    # again: their trigger is the config's digest).
    assert {k: v for k, v in result.summary.items() if k != "same"} == \
        {"update": len(NODES), "replace": 2 * len(NODES)}, result.summary
    for n in NODES:
        on(n, "grep -qx '  maxconn 5000' /etc/haproxy/haproxy.cfg")
        assert on(n, "systemctl is-active haproxy").stdout.strip() == "active"
        assert unit_starts(n) == before[n], f"{n}: corosync or pacemaker was restarted"
    assert admin_token(VIP)[0], "no token through the VIP"


def test_a_galera_setting_restarts_one_node_at_a_time_and_the_cluster_stays_primary(deployed):
    pids = {n: on(n, "systemctl show -p MainPID --value mariadb").stdout.strip() for n in NODES}
    samples: list[tuple[str, dict[str, str]]] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for n in NODES:
                status = galera_status(n)
                if status:
                    samples.append((n, status))
            time.sleep(0.5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = deployed.stack.up(deployed.stack_file("galera-max-connections", "galera",
                                                       "max_connections: 2048"))
    finally:
        done.set()
        watcher.join(timeout=60)
    deployed.timings["galera change up"] = result.seconds
    changed = updated(result.events_json)
    outside = [u for u in changed if "GaleraCluster$" not in u]
    assert not outside, f"resources outside Galera changed: {outside}"
    # Per node: the config file (updated) and its rolling restart (run again).
    assert {k: v for k, v in result.summary.items() if k != "same"} == \
        {"update": len(NODES), "replace": len(NODES)}, result.summary
    for n in NODES:
        assert on(n, "mysql -N -B -e 'SELECT @@max_connections'").stdout.strip() == "2048", n
        assert on(n, "systemctl show -p MainPID --value mariadb").stdout.strip() != pids[n], \
            f"{n}: mariadb was not restarted"
    assert len(samples) > 10, "the watcher saw too little of the rolling restart"
    # Every answer during the change came from the Primary component, never below two
    # members: the nodes restarted one at a time.
    bad = [(n, s) for n, s in samples
           if s.get("wsrep_cluster_status") != "Primary" or int(s.get("wsrep_cluster_size", 0)) < 2]
    assert not bad, f"the cluster lost its majority during the rolling restart: {bad[:5]}"
    assert admin_token(VIP)[0], "no token through the VIP"


def test_destroy_removes_in_reverse_dependency_order_and_keeps_the_data(deployed):
    state = [r for r in deployed.stack.resources() if not r["type"].startswith("pulumi:providers:")]
    result = deployed.stack.destroy(deployed.current())
    deployed.timings["destroy"] = result.seconds
    assert result.summary == {"delete": deployed.resources}, result.summary
    order = {urn: i for i, (op, urn) in enumerate(completed_steps(result.events_json)) if op == "delete"}
    assert {r["urn"] for r in state} <= set(order), "resources of the stack were not deleted"
    for r in state:
        for dep in [*(r.get("dependencies") or []), *([r["parent"]] if r.get("parent") else [])]:
            if dep in order:
                assert order[r["urn"]] < order[dep], f"{r['urn']} was deleted after {dep}, which it needs"
    assert deployed.stack.resources() == [] or all(
        r["type"].startswith("pulumi:") for r in deployed.stack.resources())
    for n in NODES:
        for unit in (*CLUSTER_UNITS, "haproxy", "mariadb", "rabbitmq-server", "keystone", "glance-api",
                     "memcached"):
            state_of = on(n, f"systemctl is-active {unit}", check=False).stdout.strip()
            assert state_of != "active", f"{n}: {unit} still runs after destroy"
        # The data the stack created stays: databases and queues are not the tool's to delete.
        on(n, "test -d /var/lib/mysql/keystone && test -d /var/lib/mysql/glance && test -f /var/lib/mysql/grastate.dat")
        on(n, "test -d /var/lib/rabbitmq/mnesia")


def test_up_after_destroy_builds_the_stack_again(deployed):
    result = deployed.stack.up(deployed.current())
    deployed.timings["up after destroy"] = result.seconds
    assert result.summary == {"create": deployed.resources}, result.summary
    for n in NODES:
        status = galera_status(n)
        assert status == {"wsrep_cluster_size": "3", "wsrep_cluster_status": "Primary",
                          "wsrep_local_state_comment": "Synced"}, f"{n}: {status}"
        assert on(n, "mysql -N -B -e 'SELECT @@max_connections'").stdout.strip() == "2048", n
    assert admin_token(VIP)[0], "no token through the VIP"
