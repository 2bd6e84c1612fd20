"""Issue 17, day two on lab-aa (keystone and glance: conftest.lab_aa_core_text), each step one
edited stack file and one `pulumi up` under live clients:

1. grow from ctl1..ctl3 to ctl1..ctl5 (two fresh lab machines, `tools/lab start`);
2. replace ctl2: powered off, fenced, its disk wiped and booted with a new SSH host key
   (`tools/lab wipe`), the new key recorded in the stack file;
3. shrink back to ctl1..ctl3: ctl4 and ctl5 taken out of every role and listed in `leaving`.

While a PyMySQL writer commits through the database VIP, a confirming publisher and an acking
consumer use a quorum queue, and a keystone client asks for tokens through the API VIP. After
each step: every committed row and confirmed message is there, Galera, RabbitMQ (and the
queue's members), Pacemaker and HAProxy hold exactly the stack's nodes, the other nodes'
database, broker and cluster daemons were not restarted, and a second `up` changes nothing.

Run: `make drills` (about 20 minutes with the deployment), under the lab lock.
"""
from __future__ import annotations

import json
import re
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from ..helpers import lab_stack_grown, lab_stack_leaving
from .conftest import ALL_NODES, NODES, DrillRecord, deployed_lab_aa, lab, lab_aa_core_text, on
from .drills import (Consumer, LoadSampler, Publisher, SqlWriter, TokenRequester, Worker, admin_password, amqp_params,
                     crm_mon, drill_table, failed_actions, galera_status, haproxy_server_status, last_fenced,
                     sql_rows, sql_url, timeline, until, until_acks, wait_healthy)

pytestmark = [pytest.mark.lab, pytest.mark.drills]

QUEUE = "ha_day_two_queue"
# The daemons whose restart would interrupt a running node's clusters.
KEPT_RUNNING = ("corosync", "pacemaker", "mariadb", "rabbitmq-server")
TOKEN_GAP_S = 15  # "token requests failed for at most a few seconds"


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lab-aa-day-two")
    core = tmp / "three.yaml"
    core.write_text(lab_aa_core_text())
    with deployed_lab_aa(tmp / "engine", stack_file=core) as aa:
        wait_healthy()
        yield aa, tmp
        for node in ALL_NODES[len(NODES):]:  # the added machines: off again for the next tests
            lab("kill", node, check=False)


def main_pids(node: str) -> dict[str, str]:
    out = on(node, "systemctl show -p Id -p MainPID " + " ".join(KEPT_RUNNING)).stdout
    blocks = [dict(line.split("=", 1) for line in block.splitlines()) for block in out.strip().split("\n\n")]
    return {b["Id"].removesuffix(".service"): b["MainPID"] for b in blocks}


def queue_members(node: str) -> list[str]:
    out = on(node, "rabbitmqctl list_queues --formatter json name members").stdout
    return sorted(next(q["members"] for q in json.loads(out) if q["name"] == QUEUE))


@contextmanager
def live_clients(aa: Any, record: DrillRecord, nodes: list[str] = ALL_NODES) -> Iterator[dict[str, Worker]]:
    """The four clients running through the body (which changes the stack); afterwards every
    committed row and confirmed message is checked (on each of `nodes`, the Galera nodes
    after the change) and the longest gaps recorded."""
    db = sql_url(aa.output("database_urls")["keystone"])
    params = amqp_params(aa.output("transport_url"))
    with drill_table(db, "ha_day_two_rows") as table:
        workers: dict[str, Worker] = {
            "sql": SqlWriter(db, table), "publish": Publisher(params, QUEUE), "consume": Consumer(params, QUEUE),
            "token": TokenRequester(aa.output("api_vip"), admin_password())}
        for w in workers.values():
            w.start()
        try:
            for name, w in workers.items():
                if until_acks(w, 0, 5, 60) is None:
                    if name == "token":
                        record.events += haproxy_log_during(time.monotonic() - 70, time.monotonic(), "keystone_public")
                    raise AssertionError(f"{name}: nothing before the change: {w.acks.errors[-3:]}")
            t0 = time.monotonic()
            yield workers
            for name, w in workers.items():  # still working afterwards
                assert until_acks(w, time.monotonic(), 5, 90) is not None, f"{name} stopped: {w.acks.errors[-3:]}"
        finally:
            for name in ("publish", "sql", "token"):
                workers[name].stop()
        publisher, consumer = workers["publish"], workers["consume"]
        published = set(publisher.acks.ids)
        until(lambda: published <= consumer.received, 60)  # type: ignore[attr-defined]
        consumer.stop()
        for name, w in workers.items():
            record.notes[f"{name} gap s"] = f"{w.acks.longest_gap(t0):.1f}"
            record.notes[f"{name} errors"] = str(len(w.acks.errors))
        committed, found = set(workers["sql"].acks.ids), sql_rows(db, table)
        record.written, record.found = len(committed), len(found)
        received: set[int] = consumer.received  # type: ignore[attr-defined]
        record.notes["messages confirmed/consumed"] = f"{len(published)}/{len(received)}"
        assert not committed - found, f"committed rows lost: {sorted(committed - found)[:20]}"
        assert not published - received, f"confirmed messages lost: {sorted(published - received)[:20]}"
        for n in nodes:
            count = on(n, f"mysql -N -B -e 'SELECT COUNT(*) FROM keystone.{table}'").stdout.strip()
            assert int(count) == len(found), f"{n} has {count} rows, the VIP {len(found)}"
        if workers["token"].acks.longest_gap(t0) >= TOKEN_GAP_S:
            record.events += haproxy_log_during(*workers["token"].acks.longest_gap_window(t0), "keystone_public")
        assert workers["token"].acks.longest_gap(t0) < TOKEN_GAP_S, record.notes


def haproxy_log_during(start: float, end: float, listener: str) -> list[str]:
    """Every node's HAProxy log of `listener` between two monotonic times (a client's gap):
    which backend each request went to, its timers and how it ended."""
    wall = time.time() - time.monotonic()
    since, until_ = int(start + wall) - 2, int(end + wall) + 2
    lines = [f"HAProxy logs of {listener} from {since} to {until_} (epoch s):"]
    for n in ALL_NODES:
        out = on(n, f"journalctl --no-pager -o short-iso-precise -u haproxy --since @{since} --until @{until_} "
                    f"| grep -e {listener} -e 'is DOWN' -e 'is UP' | tail -60", check=False, timeout=30).stdout
        lines += [f"{n}: {line}" for line in out.splitlines()]
    return lines


def assert_stack_is(nodes: list[str]) -> None:
    """Galera, RabbitMQ, the test queue, Pacemaker and HAProxy hold exactly `nodes`."""
    for n in nodes:
        assert galera_status(n) == {"wsrep_cluster_size": str(len(nodes)), "wsrep_local_state_comment": "Synced",
                                    "wsrep_cluster_status": "Primary"}, n
        status = json.loads(on(n, "rabbitmqctl cluster_status --formatter json").stdout)
        assert sorted(status["running_nodes"]) == sorted(status["disk_nodes"]) == [f"rabbit@{m}" for m in nodes], n
        for listener in ("galera_cluster", "keystone_public_cluster"):
            servers = haproxy_server_status(n, listener)
            assert sorted(servers) == nodes and all(s == "UP" for s in servers.values()), (n, listener, servers)
    assert queue_members(nodes[0]) == [f"rabbit@{m}" for m in nodes]
    mon = crm_mon(nodes)
    assert sorted(node.get("name") for node in mon.find("nodes") if node.get("online") == "true") == nodes
    assert not failed_actions(mon), failed_actions(mon)


def recorded_up(aa: Any, stack_file: Path, record: DrillRecord, workers: dict[str, Worker]) -> None:
    """One `pulumi up` of `stack_file`; its steps and the clients' errors go to the drill's
    timeline (printed when the drill fails) and the host's load to its notes."""
    started, load = time.time(), LoadSampler().start()
    result = aa.stack.up(stack_file)
    load.stop()
    record.log(f"up: {result.summary} in {result.seconds:.1f}s; during it:")
    record.events += timeline(workers, result.events_json, started)
    record.notes["host load max"] = f"{load.peak:.1f}"
    record.notes["up s"] = f"{result.seconds:.1f}"
    record.notes["up steps"] = str({k: v for k, v in result.summary.items() if k != "same"})


def test_grow_three_to_five_under_live_clients(three, drill_record: DrillRecord):
    aa, tmp = three
    for node in ALL_NODES[len(NODES):]:  # "new hardware": fresh machines with their fixture host keys
        lab("start", node)
    before = {n: main_pids(n) for n in NODES}
    grown = tmp / "five.yaml"
    grown.write_text(lab_stack_grown(lab_aa_core_text(), len(ALL_NODES)))
    with live_clients(aa, drill_record) as workers:
        recorded_up(aa, grown, drill_record, workers)
    assert_stack_is(ALL_NODES)
    for n in NODES:
        assert main_pids(n) == before[n], f"{n}: a cluster daemon was restarted: {before[n]} -> {main_pids(n)}"
    again = aa.stack.up(grown)
    drill_record.notes["second up"] = str(again.summary)
    assert set(again.summary) == {"same"}, again.summary


def test_replace_a_wiped_controller_under_live_clients(three, drill_record: DrillRecord):
    aa, tmp = three
    grown = tmp / "five.yaml"
    assert grown.exists(), "runs after the grow test"
    victim = "ctl2"
    others = [n for n in ALL_NODES if n != victim]
    before = {n: main_pids(n) for n in others}
    lost_at = time.time()
    lab("kill", victim)  # the hardware dies; the cluster fences it before it is replaced
    assert until(lambda: last_fenced(victim, others) >= lost_at - 1, 120) is not None, f"{victim} was not fenced"
    key = lab("wipe", victim).stdout.split(maxsplit=1)[1].strip()  # "ctl2 ssh-ed25519 AAAA..."
    drill_record.log(f"{victim} wiped, new host key {key}")
    text = grown.read_text()
    old = re.search(rf"(?m)^    - name: {victim}\n      ssh:\n(?:        .*\n)*?        host_key: (\S+ \S+)", text)
    assert old, f"no host_key of {victim} in the stack"
    replaced = tmp / "replaced.yaml"
    replaced.write_text(text.replace(old[1], key, 1))  # the operator records the new key
    with live_clients(aa, drill_record) as workers:
        recorded_up(aa, replaced, drill_record, workers)
    assert_stack_is(ALL_NODES)
    for n in others:
        assert main_pids(n) == before[n], f"{n}: a cluster daemon was restarted: {before[n]} -> {main_pids(n)}"
    again = aa.stack.up(replaced)
    drill_record.notes["second up"] = str(again.summary)
    assert set(again.summary) == {"same"}, again.summary


def test_shrink_five_to_three_under_live_clients(three, drill_record: DrillRecord):
    aa, tmp = three
    current = next((p for p in (tmp / "replaced.yaml", tmp / "five.yaml") if p.exists()), None)
    assert current is not None, "runs after the grow test"
    leaving = ALL_NODES[len(NODES):]
    before = {n: main_pids(n) for n in NODES}
    shrunk = tmp / "shrunk.yaml"
    shrunk.write_text(lab_stack_leaving(current.read_text(), leaving))
    with live_clients(aa, drill_record, nodes=NODES) as workers:
        recorded_up(aa, shrunk, drill_record, workers)
    assert_stack_is(NODES)
    members = on(NODES[0], "crm_node -l").stdout.split()
    assert not set(leaving) & set(members), f"Pacemaker still knows {members}"
    for n in NODES:
        assert main_pids(n) == before[n], f"{n}: a cluster daemon was restarted: {before[n]} -> {main_pids(n)}"
    for n in leaving:
        states = on(n, "systemctl is-active " + " ".join(KEPT_RUNNING) + " keystone memcached", check=False).stdout
        assert set(states.split()) == {"inactive"}, f"{n} still runs something: {states}"
    again = aa.stack.up(shrunk)
    drill_record.notes["second up"] = str(again.summary)
    assert set(again.summary) == {"same"}, again.summary
