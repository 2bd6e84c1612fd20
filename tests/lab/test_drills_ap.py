"""Issue 6 on the kernel tier: fault drills on the deployed active/passive control plane
(lab-ap, seed chapter 2: MySQL and RabbitMQ each on a DRBD volume of ctl1/ctl2, behind a VIP).

One deployment for the module (tests/lab/conftest.py `deployed_stack`, kernel tier). Each
drill runs a real client (PyMySQL, pika) against the VIP the stack exports, powers off the
node running the service's group (`tools/lab --kernel kill`: QMP quit, no shutdown inside),
and checks what the operator relies on: Pacemaker fences the node, DRBD is promoted on the
peer, filesystem, service and VIP move, every acknowledged write is still there; powered on
again, the node rejoins and DRBD resyncs by itself. Each ends with the cluster whole again
(`ap_problem`), so the next drill starts healthy. Measurements go into the session's
summary table (`drill_record`), beside the tier-1 drills when run in one session.

Run: `make drills-kernel` (or `python3 -m pytest -m "drills and kernel" tests/lab`).
"""
from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ET

import pika
import pytest

from .conftest import NODES, DrillRecord, deployed_stack, lab, on
from .deploy import RUNNING_ROLES
from .drills import (CLASSIC, Consumer, Publisher, SqlWriter, Worker, amqp_params, blocking_failures, crm_mon,
                     diagnose, drill_table, failed_actions, last_fenced, power_on, resource_node, sql_rows, sql_url,
                     until, until_acks, wait_healthy)

pytestmark = [pytest.mark.lab, pytest.mark.kernel, pytest.mark.drills]

STACK = "lab-ap"
DRBD_NODES = ["ctl1", "ctl2"]  # stacks/Pulumi.lab-ap.yaml: both volumes on ctl1 and ctl2
VOLUMES = ["mysql", "rabbitmq"]
# TCG guests: a failover (corosync token 10 s, fence, DRBD promotion, InnoDB recovery or a
# RabbitMQ boot) takes minutes, not seconds; a boot 75-100 s, more under load.
FAILOVER_TIMEOUT = 900


def k(node: str, cmd: str, **kw):
    return on(node, cmd, kernel=True, **kw)


def drbd_state(node: str, volume: str) -> str:
    """`Role/peer role DiskState/peer disk state` of a volume on node, e.g. Primary/Secondary UpToDate/UpToDate."""
    r = k(node, f"echo $(drbdadm role {volume}) $(drbdadm dstate {volume})", check=False, timeout=30)
    return r.stdout.strip() if r.returncode == 0 else f"unreachable ({r.returncode})"


def drbd_synced(volume: str) -> bool:
    return all(drbd_state(n, volume).endswith("UpToDate/UpToDate") for n in DRBD_NODES)


def ap_problem() -> str | None:
    """None when lab-ap is whole: every guest on and online in Pacemaker, every resource
    running, no failure that keeps a resource off a node (blocking_failures), both DRBD volumes UpToDate/UpToDate with one Primary, and no
    constraint left by DRBD's fence-peer handler (it would keep the promotion off a node).
    Otherwise the first thing that is not so."""
    for n in NODES:
        if lab("status", n, check=False, kernel=True).returncode != 0:
            return f"{n} is powered off"
    mon = crm_mon(kernel=True)
    for node in mon.find("nodes"):
        if node.get("online") != "true" or node.get("unclean") != "false":
            return f"{node.get('name')} is not online in Pacemaker"
    for r in mon.find("resources").iter("resource"):
        if r.get("role") not in RUNNING_ROLES or r.get("active") != "true" or r.get("failed") != "false":
            return f"resource {r.get('id')}: {r.attrib}"
    blocked = blocking_failures(mon)
    if blocked:
        return f"failures that keep resources off nodes: {blocked}"
    for volume in VOLUMES:
        states = [drbd_state(n, volume) for n in DRBD_NODES]
        if sorted(s.split()[0] for s in states) != ["Primary/Secondary", "Secondary/Primary"] or \
                not all(s.endswith("UpToDate/UpToDate") for s in states):
            return f"DRBD {volume}: {dict(zip(DRBD_NODES, states))}"
    fenced = k("ctl3", "cibadmin -Q -o constraints | grep -o 'id=\"drbd-fence-by-handler[^\"]*\"' || true",
               check=False, timeout=30).stdout.split()
    if fenced:
        return f"DRBD fence-peer constraints left: {fenced}"
    return None


@pytest.fixture(scope="module")
def ap(tmp_path_factory):
    with deployed_stack(tmp_path_factory.mktemp("lab-ap-drills"), STACK, kernel=True) as deployed:
        try:
            wait_healthy(FAILOVER_TIMEOUT, ap_problem)
        except AssertionError:
            # The cluster as the deployment left it: the tier is reset when the fixture ends.
            print(diagnose(kernel=True))
            raise
        yield deployed


@pytest.fixture(autouse=True)
def whole_at_start(ap):
    """Every drill starts on a whole cluster (the one before it may have failed)."""
    wait_healthy(FAILOVER_TIMEOUT, ap_problem)


@pytest.fixture(scope="module")
def db(ap):
    """The keystone account's URL through the MySQL VIP (the stack's database_urls output)."""
    url = sql_url(ap.output("database_urls")["keystone"])
    assert url.hostname == ap.output("database_vip")
    return url


@pytest.fixture
def table(db):
    with drill_table(db) as name:
        yield name


def first_ack_after(worker: Worker, since: float) -> float | None:
    """Seconds from `since` (monotonic) to the worker's first acknowledgement after it."""
    return next((t - since for t in worker.acks.times if t > since), None)


def fail_group_node(victim: str, resource: str, volume: str, worker: Worker, record: DrillRecord) -> float:
    """Power off `victim`, the node running `resource` (on DRBD `volume`), under `worker`, then
    check what must follow: the node fenced, DRBD promoted on the peer, the group (VIP,
    filesystem, service) there, and the worker acknowledging writes again. Records failover
    (power-off -> first acknowledgement through the VIP) and fence seconds; returns
    time.time() of the power-off."""
    peer = next(n for n in DRBD_NODES if n != victim)
    others = [n for n in NODES if n != victim]
    record.notes["killed"] = victim
    lost_at, t0 = time.time(), time.monotonic()
    lab("kill", victim, kernel=True)
    off = time.monotonic()  # QMP quit done: from here on, only the peer can acknowledge a write
    record.log(f"killed {victim} (running {resource}) in {off - t0:.1f}s")
    resumed = until(lambda: first_ack_after(worker, off) is not None, FAILOVER_TIMEOUT, interval=0.2)
    record.log(f"writes resumed: {resumed}; client errors {worker.acks.errors[-3:]}")
    assert resumed is not None, f"no write through the VIP within {FAILOVER_TIMEOUT}s: {worker.acks.errors[-3:]}"
    record.failover_s = off + first_ack_after(worker, off) - t0
    # The broker answers before systemd reports the unit started: wait for Pacemaker to say so.
    there = until(lambda: resource_node(crm_mon(others, kernel=True), resource) == peer, 300, interval=2)
    mon = crm_mon(others, kernel=True)
    record.log(ET.tostring(mon.find("resources"), encoding="unicode")[:2000])
    assert there is not None, f"{resource} is on {resource_node(mon, resource)}, not {peer}"
    fenced = last_fenced(victim, others, kernel=True)
    assert fenced >= lost_at - 1, f"{victim} was not fenced (last fenced {fenced}, lost at {lost_at})"
    record.notes["fenced after s"] = f"{fenced - lost_at:.0f}"  # the fencer's history has whole seconds
    state = drbd_state(peer, volume)
    record.log(f"DRBD {volume} on {peer}: {state}")
    assert state.startswith("Primary/"), f"DRBD {volume} on {peer}: {state}"
    assert until_acks(worker, time.monotonic(), 20, 120) is not None, "writes did not go on after the failover"
    return lost_at


def rejoin(victim: str, lost_at: float, record: DrillRecord) -> None:
    """Power the fenced node on again; it rejoins Pacemaker and DRBD resyncs with no operator
    action, until the cluster is whole (ap_problem). Records boot and resync seconds."""
    t1 = time.monotonic()
    # Pacemaker fences with `reboot` (its default stonith-action): the fence itself boots it.
    started = power_on(victim, lost_at, kernel=True)
    record.notes["boot s"] = f"{time.monotonic() - t1:.0f}" if started else "by the fence"
    record.log(f"{victim} on ({'started by the drill' if started else 'rebooted by the fence'})")
    synced = until(lambda: all(drbd_synced(v) for v in VOLUMES), FAILOVER_TIMEOUT, interval=2)
    record.log(f"DRBD: {[drbd_state(n, v) for v in VOLUMES for n in DRBD_NODES]}")
    assert synced is not None, f"DRBD did not resync within {FAILOVER_TIMEOUT}s of {victim}'s boot"
    record.notes["resync s"] = f"{synced:.0f}"
    whole = wait_healthy(FAILOVER_TIMEOUT, ap_problem)
    record.notes["whole s"] = f"{time.monotonic() - t1:.0f}"
    left = failed_actions(crm_mon(kernel=True))
    record.notes["failed actions left"] = str(len(left))
    record.log(f"whole {whole:.0f}s after the resync; failed actions recorded (not blocking): {left}")


def lose_and_regain(resource: str, volume: str, worker: Worker, record: DrillRecord) -> None:
    """The whole drill around a working client: writes acknowledged, the group's node powered
    off (fail_group_node), powered on again (rejoin), writes still acknowledged afterwards (a
    needless move back to the returned node would show here as a second outage)."""
    assert until_acks(worker, 0, 20, 120) is not None, f"no writes before the fault: {worker.acks.errors[-3:]}"
    victim = resource_node(crm_mon(kernel=True), resource)
    assert victim in DRBD_NODES, f"{resource} runs on {victim}"
    lost_at = time.time()
    try:
        lost_at = fail_group_node(victim, resource, volume, worker, record)
        rejoin(victim, lost_at, record)
    except BaseException:
        # Leave no node off for the next drill: boot it once the cluster has fenced it.
        if lab("status", victim, check=False, kernel=True).returncode != 0:
            until(lambda: last_fenced(victim, kernel=True) >= lost_at - 1, 120)
            lab("start", victim, check=False, kernel=True)
        raise
    assert until_acks(worker, time.monotonic(), 20, FAILOVER_TIMEOUT) is not None, \
        f"writes stopped after {victim} came back: {worker.acks.errors[-3:]}"
    record.notes["longest gap s"] = f"{worker.acks.longest_gap(worker.acks.times[0]):.1f}"
    record.notes["ends on"] = resource_node(crm_mon(kernel=True), resource) or "-"


def record_counts(record: DrillRecord, worker: Worker, acknowledged: set[int], found: set[int]) -> None:
    record.written, record.found = len(acknowledged), len(acknowledged & found)
    record.notes["client errors"] = str(len(worker.acks.errors))


def test_mysql_node_loss(ap, db, table, drill_record):
    """The node running g_mysql is powered off under a PyMySQL writer going through the MySQL
    VIP: every committed row is there after the failover and after the node's return."""
    writer = SqlWriter(db, table).start()
    try:
        lose_and_regain("p_mysql", "mysql", writer, drill_record)
    finally:
        writer.stop()
    committed = set(writer.acks.ids)
    found = sql_rows(db, table)
    record_counts(drill_record, writer, committed, found)
    assert not committed - found, f"committed rows lost: {sorted(committed - found)[:20]}"


def test_rabbitmq_node_loss(ap, drill_record):
    """The node running g_rabbitmq is powered off under a pika publisher with confirms
    (persistent messages, a classic durable queue on the broker on DRBD): after the move, a
    consumer gets every confirmed message."""
    params = amqp_params(ap.output("transport_url"))
    assert [p.host for p in params] == [ap.output("messaging_vip")]
    queue = f"ha-drill-{uuid.uuid4().hex[:8]}"
    publisher = Publisher(params, queue, CLASSIC).start()
    consumer: Consumer | None = None
    try:
        lose_and_regain("p_rabbitmq", "rabbitmq", publisher, drill_record)
        publisher.stop()
        # Everything confirmed sat in the queue through the failover: drain it now.
        confirmed = set(publisher.acks.ids)
        consumer = Consumer(params, queue, CLASSIC).start()
        done = until(lambda: not confirmed - consumer.received, 600)
    finally:
        publisher.stop()
        if consumer is not None:
            consumer.stop()
        delete_queue(params, queue)
    assert consumer is not None
    record_counts(drill_record, publisher, confirmed, consumer.received)
    assert done is not None, f"confirmed but never consumed: {sorted(confirmed - consumer.received)[:20]}"


def delete_queue(params: list[pika.ConnectionParameters], queue: str) -> None:
    try:
        conn = pika.BlockingConnection(params)
        conn.channel().queue_delete(queue)
        conn.close()
    except Exception as err:  # noqa: BLE001 - cleanup: say it, keep the drill's own verdict
        print(f"could not delete {queue}: {err}")
