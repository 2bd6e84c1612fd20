"""Issue 6: fault drills on the deployed active/active control plane (lab-aa).

One deployment for the module (tests/lab/conftest.py `deployed_lab_aa`). Each drill runs
clients through the stack's own endpoints (the HAProxy VIP, the transport_url hosts)
while it powers off, isolates or crashes part of the cluster, checks what operators rely
on (writes continue, nothing acknowledged is lost, the node comes back by itself), and
ends by waiting until the cluster is whole again, so the next drill starts from a healthy
cluster. Measurements go into the session's summary table (`drill_record`).

Run: `make drills` (or `python3 -m pytest -m drills tests/lab`), under the lab lock.
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid

import pytest

from .conftest import NODES, REPO, STACK_AA_FILE, DrillRecord, deployed_lab_aa, lab, on
from .drills import (Consumer, Publisher, SqlWriter, admin_password, amqp_params, crm_mon, drill_table,
                     galera_status, haproxy_server_status, last_fenced, power_on, resource_node, sql_rows,
                     sql_url, sql_works, token, until, until_acks, wait_healthy)
from .openstack_checks import openstack_cloud, router_answers, router_with_tenant_network

pytestmark = [pytest.mark.lab, pytest.mark.drills]


@pytest.fixture(scope="module")
def aa(tmp_path_factory):
    with deployed_lab_aa(tmp_path_factory.mktemp("lab-aa-drills")) as deployed:
        wait_healthy()
        yield deployed


@pytest.fixture(autouse=True)
def whole_at_start(aa):
    """Every drill starts on a whole cluster (the one before it may have failed)."""
    wait_healthy(180)


@pytest.fixture(scope="module")
def db(aa):
    """The keystone account's URL through the VIP (the stack's database_urls output)."""
    url = sql_url(aa.output("database_urls")["keystone"])
    assert url.hostname == aa.output("api_vip")
    return url


@pytest.fixture
def table(db):
    with drill_table(db) as name:
        yield name


def galera_writer(vip_node: str) -> str:
    """The server HAProxy sends database traffic to: the first one UP that is not a backup."""
    status = haproxy_server_status(vip_node, "galera_cluster")
    return next(n for n in NODES if status.get(n) == "UP")  # ctl1 first: the others are backups


def check_rows(db, table: str, writer: SqlWriter, record: DrillRecord) -> None:
    """Every committed row is there, read through the VIP and on every node directly."""
    committed = set(writer.acks.ids)
    found = sql_rows(db, table)
    record.written, record.found = len(committed), len(found)
    assert committed, "the writer committed nothing"
    assert not committed - found, f"committed rows lost: {sorted(committed - found)[:20]}"
    for n in NODES:
        count = on(n, f"mysql -N -B -e 'SELECT COUNT(*) FROM keystone.{table}'").stdout.strip()
        assert int(count) == len(found), f"{n} has {count} rows, the VIP {len(found)}"


def test_galera_node_loss(aa, db, table, drill_record):
    """The writer's Galera node is powered off under a client writing through the VIP."""
    vip_node = resource_node(crm_mon(), "p_ip_api")
    victim = galera_writer(vip_node)
    watcher = vip_node if vip_node != victim else next(n for n in NODES if n != victim)
    drill_record.notes["killed"] = victim
    lost_at = time.time()
    writer = SqlWriter(db, table).start()
    try:
        assert until_acks(writer, 0, 50, 30) is not None, f"no writes before the fault: {writer.acks.errors[-3:]}"
        t0 = time.monotonic()
        lab("kill", victim)
        drill_record.log(f"killed {victim}; HAProxy on {watcher} watched")
        down = until(lambda: haproxy_server_status(watcher, "galera_cluster").get(victim, "").startswith("DOWN"), 90)
        drill_record.log(f"HAProxy: {haproxy_server_status(watcher, 'galera_cluster')}")
        assert down is not None, f"HAProxy on {watcher} never marked {victim} DOWN"
        drill_record.notes["haproxy DOWN s"] = f"{down:.1f}"
        # Writes go on through another node.
        resumed = until_acks(writer, time.monotonic(), 50, 90)
        drill_record.log(f"writes resumed: {resumed is not None}; errors {writer.acks.errors[-3:]}")
        assert resumed is not None, "writes did not resume"
        outage = writer.acks.longest_gap(t0)
        drill_record.failover_s = outage
        # Back on: it rejoins Galera by itself (mariadb is enabled) and HAProxy takes it back.
        t1 = time.monotonic()
        power_on(victim, lost_at)
        drill_record.log(f"{victim} fenced and powered on")
        synced = until(lambda: galera_status(victim).get("wsrep_local_state_comment") == "Synced", 300, 1)
        drill_record.log(f"Galera on {victim}: {galera_status(victim)}")
        assert synced is not None, f"{victim} did not rejoin Galera"
        drill_record.notes["rejoin s"] = f"{time.monotonic() - t1:.1f}"
        up = until(lambda: haproxy_server_status(watcher, "galera_cluster").get(victim) == "UP", 120)
        assert up is not None, f"HAProxy did not mark {victim} UP again"
        wait_healthy()
        until_acks(writer, time.monotonic(), 20, 60)
    finally:
        writer.stop()
    drill_record.notes["client errors"] = str(len(writer.acks.errors))
    check_rows(db, table, writer, drill_record)
    assert outage < 60, f"writes stopped for {outage:.1f}s"


def test_rabbitmq_node_loss(aa, drill_record):
    """The quorum queue's leader node is powered off under a confirming publisher and an
    acking consumer; every confirmed message is consumed."""
    transport = aa.output("transport_url")
    queue = f"ha-drill-{uuid.uuid4().hex[:8]}"
    # Declare it from ctl2: a quorum queue's first leader is the declaring node.
    leader_host = "10.77.1.12"
    setup = Publisher(amqp_params(transport, first=leader_host), queue)
    setup.channel()
    setup.reset()
    leader = queue_leader(queue)
    victim = leader.split("@")[-1]
    drill_record.notes["killed"] = victim
    # Both clients connect to the leader's node first: they must fail over too.
    victim_host = f"10.77.1.1{victim[-1]}"
    lost_at = time.time()
    publisher = Publisher(amqp_params(transport, first=victim_host), queue).start()
    consumer = Consumer(amqp_params(transport, first=victim_host), queue).start()
    try:
        assert until_acks(publisher, 0, 200, 30) is not None, f"no confirms: {publisher.acks.errors[-3:]}"
        t0 = time.monotonic()
        lab("kill", victim)
        assert until_acks(publisher, time.monotonic(), 200, 120) is not None, \
            f"publishing did not resume: {publisher.acks.errors[-3:]}"
        assert until_acks(consumer, time.monotonic(), 200, 120) is not None, \
            f"consuming did not resume: {consumer.acks.errors[-3:]}"
        drill_record.failover_s = publisher.acks.longest_gap(t0)
        drill_record.notes["consumer gap s"] = f"{consumer.acks.longest_gap(t0):.1f}"
        power_on(victim, lost_at)
        wait_healthy()
        publisher.stop()
        confirmed = set(publisher.acks.ids)
        done = until(lambda: not confirmed - consumer.received, 120)
    finally:
        publisher.stop()
        consumer.stop()
        on(NODES[0], f"rabbitmqctl delete_queue {queue}", check=False)
    drill_record.written, drill_record.found = len(confirmed), len(consumer.received & confirmed)
    drill_record.notes["client errors"] = f"{len(publisher.acks.errors)}+{len(consumer.acks.errors)}"
    assert done is not None, f"confirmed but never consumed: {sorted(confirmed - consumer.received)[:20]}"


def queue_leader(queue: str) -> str:
    import json

    rows = json.loads(on(NODES[0], "rabbitmqctl list_queues --quiet --formatter json name type leader").stdout)
    found = [q for q in rows if q["name"] == queue]
    assert found and found[0]["type"] == "quorum", rows
    return found[0]["leader"]


def test_api_vip_loss(aa, drill_record):
    """The node holding the API VIP is powered off: Pacemaker fences it, the VIP moves, and
    keystone issues a token through the VIP again."""
    vip = aa.output("api_vip")
    password = admin_password()
    assert token(vip, password)
    victim = resource_node(crm_mon(), "p_ip_api")
    drill_record.notes["killed"] = victim
    lost_at = time.time()
    lab("kill", victim)
    back = until(lambda: token(vip, password, timeout=3), 180)
    assert back is not None, "no token through the VIP within 180 s of the power-off"
    drill_record.failover_s = back
    others = [n for n in NODES if n != victim]
    moved_to = resource_node(crm_mon(others), "p_ip_api")
    assert moved_to in others, f"the VIP is on {moved_to}"
    drill_record.notes["VIP to"] = moved_to
    power_on(victim, lost_at)
    wait_healthy()


def test_l3_group_move(aa, drill_record):
    """g_services_network moved to another node (crm_resource --move, then clear): the router
    is rebuilt there and answers, the metadata agent alive there, nothing left on the old node."""
    cloud = openstack_cloud()
    router_id, gateway, network_id = router_with_tenant_network(cloud)
    router_answers(router_id, gateway, network_id)
    before = resource_node(crm_mon(), "p_neutron-l3-agent")
    target = next(n for n in NODES if n != before)
    drill_record.notes["moved"] = f"{before} -> {target}"
    on("ctl1", f"crm_resource --move --resource g_services_network --node {target}")
    try:
        drill_record.failover_s = router_answers(router_id, gateway, network_id, host=target, timeout=300)
        assert f"qrouter-{router_id}" not in on(before, "ip netns list").stdout, f"a router namespace left on {before}"
        agents = [a for a in cloud.network.agents() if a.agent_type == "Metadata agent" and a.is_alive]
        assert [a.host for a in agents] == [target], agents
    finally:
        on("ctl1", "crm_resource --clear --resource g_services_network", check=False)
    wait_healthy()


def test_l3_agent_node_loss(aa, drill_record):
    """The node running g_services_network (the L3 and metadata agents) is powered off: a
    survivor's L3 agent hosts the router again and its tenant address answers from every
    surviving DHCP namespace; the returning node hosts nothing."""
    cloud = openstack_cloud()
    router_id, gateway, network_id = router_with_tenant_network(cloud)
    router_answers(router_id, gateway, network_id)
    victim = resource_node(crm_mon(), "p_neutron-l3-agent")
    drill_record.notes["killed"] = victim
    others = [n for n in NODES if n != victim]
    lost_at = time.time()
    lab("kill", victim)
    drill_record.failover_s = router_answers(router_id, gateway, network_id, nodes=others, timeout=300)
    moved_to = resource_node(crm_mon(others), "p_neutron-l3-agent")
    assert moved_to in others and f"qrouter-{router_id}" in on(moved_to, "ip netns list").stdout
    drill_record.notes["router to"] = moved_to
    power_on(victim, lost_at)
    wait_healthy()
    assert f"qrouter-{router_id}" not in on(victim, "ip netns list").stdout, f"a router namespace on {victim}"


def test_network_partition(aa, db, drill_record):
    """The VIP's node is cut off the network: the two others keep quorum and serve SQL and
    tokens through the VIP; the isolated node is fenced; healed, it rejoins."""
    vip = aa.output("api_vip")
    password = admin_password()
    victim = resource_node(crm_mon(), "p_ip_api")
    others = [n for n in NODES if n != victim]
    drill_record.notes["isolated"] = victim
    on(victim, "touch /run/ha-drill-before-partition")  # /run is a tmpfs: a reboot clears it
    lost_at = time.time()
    t0 = time.monotonic()
    lab("isolate", victim)
    try:
        served = until(lambda: sql_works(db) and token(vip, password, timeout=3), 180)
        assert served is not None, "the majority did not serve SQL and tokens through the VIP within 180 s"
        drill_record.failover_s = served
        drill_record.log(f"SQL and token through the VIP after {served:.1f}s")
        quorate = on(others[0], "corosync-quorumtool -s", check=False).stdout  # exit status: not a verdict
        drill_record.log(quorate)
        assert re.search(r"^Quorate:\s+Yes$", quorate, re.M), quorate
        assert until(lambda: last_fenced(victim, others) >= lost_at - 1, 120), f"{victim} was not fenced"
        drill_record.notes["fenced after s"] = f"{time.monotonic() - t0:.1f}"
        mon = crm_mon(others)
        assert resource_node(mon, "p_ip_api") in others
    finally:
        # The fence powered it off; `heal` needs it on: boot it (still cut off), then reattach.
        if lab("status", victim, check=False).returncode != 0:
            lab("start", victim, "--no-wait")
        assert until(lambda: lab("heal", victim, check=False).returncode == 0, 60), f"tools/lab heal {victim}"
    power_on(victim, lost_at)
    drill_record.notes["rejoin s"] = f"{wait_healthy():.1f}"
    rebooted = on(victim, "test -e /run/ha-drill-before-partition", check=False).returncode
    assert rebooted == 1, "the isolated node was not rebooted by its fence"


def galera_recover() -> subprocess.CompletedProcess:
    """The operator's command (README), applied, with the stack file of the deployment."""
    return subprocess.run([sys.executable, "-m", "ha_components", "galera-recover", str(STACK_AA_FILE), "--yes"],
                          cwd=REPO, capture_output=True, text=True, timeout=900)


def all_synced() -> bool:
    return all(galera_status(n).get("wsrep_local_state_comment") == "Synced" for n in NODES)


def test_galera_full_shutdown(aa, db, table, drill_record):
    """Every Galera node stops under a writing client, then `galera-recover` (README) brings
    the cluster back and every committed row is there. Two shutdowns:

    A. mariadbd SIGKILLed on all three at once (a crash). systemd restarts it (the unit's
       Restart=on-abort) and Galera's pc.recovery restores the last primary component from
       gvwstate.dat once all its members are back; galera-recover must then find it running.
    B. all three stopped one after another under writes, the last one (ctl1) by power-off:
       no primary component is left to restore, and the nodes' seqnos differ. galera-recover
       must bootstrap the highest seqno (ctl1) and join the others.
    """
    writer = SqlWriter(db, table).start()
    try:
        assert until_acks(writer, 0, 100, 30) is not None, f"no writes: {writer.acks.errors[-3:]}"
        errors = len(writer.acks.errors)
        procs = [subprocess.Popen([str(REPO / "tools" / "lab"), "ssh", n, "systemctl kill -s KILL mariadb"])
                 for n in NODES]
        t0 = time.monotonic()
        for proc in procs:
            assert proc.wait(60) == 0
        drill_record.log("SIGKILL mariadb on every node")
        assert until(lambda: len(writer.acks.errors) > errors, 30), "the writer did not notice"
        back = until(lambda: writer.acks.count_since(t0 + 1) > 0, 180)
        drill_record.log(f"writes back by themselves after {back}")
        drill_record.notes["crash: writes back s"] = "-" if back is None else f"{back:.1f}"
        recovered = galera_recover()
        drill_record.log(recovered.stdout + recovered.stderr)
        assert recovered.returncode == 0, recovered.stdout + recovered.stderr
        assert until(all_synced, 300), "Galera is not Synced everywhere after galera-recover"
        drill_record.failover_s = writer.acks.longest_gap(t0)

        # B: ctl3, ctl2 stopped cleanly one after the other, writes go on; ctl1 powered off.
        for n in ("ctl3", "ctl2"):
            on(n, "systemctl stop mariadb", timeout=120)
            assert until_acks(writer, time.monotonic(), 50, 90) is not None, f"no writes after stopping {n}"
        lost_at = time.time()
        lab("kill", "ctl1")
        t1 = time.monotonic()
        drill_record.log("ctl3, ctl2 stopped; ctl1 powered off")
    finally:
        writer.stop()
    power_on("ctl1", lost_at)
    # ctl1's own mariadb may restore the one-node primary component it last saw (gvwstate.dat).
    recovered = galera_recover()
    drill_record.log(recovered.stdout + recovered.stderr)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    seqnos = dict(re.findall(r"^(ctl\d): \w+(?: \(primary\))?, seqno (-?\d+)", recovered.stdout, re.M))
    assert sorted(seqnos) == NODES, recovered.stdout
    assert int(seqnos["ctl1"]) == max(int(v) for v in seqnos.values()), recovered.stdout
    plan = re.search(r"^plan: (.*)$", recovered.stdout, re.M)
    assert plan and re.match(r"(bootstrap|running) ctl1, join ctl[23], join ctl[23]$", plan[1]), recovered.stdout
    drill_record.notes["plan B"] = plan[1]
    assert until(all_synced, 300), "Galera is not Synced everywhere after galera-recover"
    drill_record.notes["recover B s"] = f"{time.monotonic() - t1:.1f}"
    check_rows(db, table, writer, drill_record)
    wait_healthy()


def test_galera_clean_shutdown(aa, db, table, drill_record):
    """A planned stop of the whole cluster: ctl3, ctl2, then ctl1 stopped cleanly under writes.
    A clean stop leaves no primary component to restore and nothing restarts by itself; the
    last node stopped (ctl1) has the highest seqno and `safe_to_bootstrap: 1`. galera-recover
    must take its bootstrap path: start a new cluster from ctl1 and join the others to it."""
    writer = SqlWriter(db, table).start()
    try:
        assert until_acks(writer, 0, 100, 30) is not None, f"no writes: {writer.acks.errors[-3:]}"
        for n in ("ctl3", "ctl2"):
            on(n, "systemctl stop mariadb", timeout=120)
            assert until_acks(writer, time.monotonic(), 50, 90) is not None, f"no writes after stopping {n}"
        on("ctl1", "systemctl stop mariadb", timeout=120)
        t0 = time.monotonic()
        drill_record.log("ctl3, ctl2, ctl1 stopped cleanly")
    finally:
        writer.stop()
    for n in NODES:
        assert on(n, "systemctl is-active mariadb", check=False).stdout.strip() != "active", n
    assert "safe_to_bootstrap: 1" in on("ctl1", "cat /var/lib/mysql/grastate.dat").stdout
    recovered = galera_recover()
    drill_record.log(recovered.stdout + recovered.stderr)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    seqnos = dict(re.findall(r"^(ctl\d): \w+(?: \(primary\))?, seqno (-?\d+)", recovered.stdout, re.M))
    assert sorted(seqnos) == NODES and int(seqnos["ctl1"]) == max(int(v) for v in seqnos.values()), \
        recovered.stdout
    plan = re.search(r"^plan: (.*)$", recovered.stdout, re.M)
    assert plan and re.match(r"bootstrap ctl1, join ctl[23], join ctl[23]$", plan[1]), recovered.stdout
    drill_record.notes["plan"] = plan[1]
    assert until(all_synced, 300), "Galera is not Synced everywhere after galera-recover"
    drill_record.failover_s = time.monotonic() - t0  # last stop -> recovered, all Synced
    check_rows(db, table, writer, drill_record)
    wait_healthy()
