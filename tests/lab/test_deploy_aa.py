"""Issue 5, active/active: the real engine deploys stacks/Pulumi.lab-aa.yaml onto the lab.

One deployment for the module (fixture `aa`): `tools/lab reset` (a fresh base, whatever ran
before, e.g. test_lab.py's power cycles), a cold `pulumi up` through the automation API
(tests/engine/engine_helpers.py), then a second `up` that must change nothing. The tests
check the running control plane; at the end the lab is reset again so that nothing of
this cluster is left for the next test module.

Like every lab test, these FAIL (never skip) when the lab or the toolchain is missing.
"""
from __future__ import annotations

import json
import time
import urllib.request
import uuid
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

import openstack
import pytest
from keystoneauth1.exceptions.connection import ConnectFailure

from .conftest import NODES, addr, lab, on
from .deploy import OPENRC, admin_token, assert_cluster_running, crm_mon, deployed
from .openstack_checks import (group_node, openstack_cloud, router_answers, router_with_tenant_network,
                               wait_for_agents, wait_until)

pytestmark = [pytest.mark.lab]

STACK = "lab-aa"
VIP = "10.77.1.110"
# HAProxy's listeners by default: Galera and the APIs the stack deploys (the seed's whole plane).
DEPLOYED_LISTENERS = ("galera_cluster", "keystone_public_cluster", "keystone_admin_cluster",
                      "glance_api_cluster", "placement_api_cluster", "nova_compute_api_cluster",
                      "nova_metadata_api_cluster", "neutron_api_cluster", "cinder_api_cluster",
                      "heat_api_cluster")


# Module scope: one deployment for this module, and its teardown (reset) runs when the
# module ends, before test_lab.py, whose cluster test expects disabled cluster units.
@pytest.fixture(scope="module")
def aa(tmp_path_factory):
    yield from deployed(STACK, tmp_path_factory.mktemp(STACK))


def test_cold_up_creates_everything(aa):
    assert set(aa.first.summary) == {"create"}, aa.first.summary
    assert aa.first.summary["create"] == aa.resources
    assert aa.output("galera_cluster_size") == 3
    assert aa.output("api_vip") == VIP


def test_second_up_changes_nothing_and_runs_no_remote_command(aa):
    assert set(aa.second.summary) == {"same"}, aa.second.summary
    assert aa.second.summary["same"] == aa.resources
    assert aa.logins_during_second == {n: 0 for n in NODES}, "the no-op up opened SSH sessions"


def test_pacemaker_every_node_online_every_resource_started_stonith_on(aa):
    resources = assert_cluster_running()
    haproxy = [r for r in resources if r.get("id") == "p_haproxy"]
    assert len(haproxy) == 3, "cl_haproxy runs on every node"
    fence = [r for r in resources if r.get("resource_agent") == "stonith:fence_halab"]
    assert len(fence) == 1, "the lab's fence device is configured and started"
    on("ctl1", "stonith_admin --list-registered | grep -q st_lab")
    assert on("ctl1", "stonith_admin --list ctl3").stdout.strip().splitlines()[:1] == ["st_lab"]
    vip = [r for r in resources if r.get("id") == "p_ip_api"]
    where = vip[0].find("node").get("name")
    on(where, f"ip -4 -o addr show | grep -q ' {VIP}/'")


def test_galera_three_nodes_all_synced(aa):
    for n in NODES:
        out = on(n, "mysql -N -B -e \"SHOW GLOBAL STATUS WHERE Variable_name IN "
                    "('wsrep_cluster_size','wsrep_local_state_comment','wsrep_cluster_status')\"").stdout
        status = dict(line.split("\t") for line in out.strip().splitlines())
        assert status == {"wsrep_cluster_size": "3", "wsrep_local_state_comment": "Synced",
                          "wsrep_cluster_status": "Primary"}, f"{n}: {status}"


def test_a_row_written_through_the_vip_is_read_on_every_node(aa):
    url = urlsplit(aa.output("database_urls")["keystone"])
    assert url.hostname == VIP
    value = uuid.uuid4().hex
    table = "keystone.ha_e2e_probe"
    sql = (f"CREATE TABLE IF NOT EXISTS {table} (id INT PRIMARY KEY AUTO_INCREMENT, v CHAR(32)); "
           f"INSERT INTO {table} (v) VALUES ('{value}');")
    # Through HAProxy on the VIP with the keystone account (password on stdin), from ctl3.
    on("ctl3", f"IFS= read -r MYSQL_PWD; export MYSQL_PWD; mysql -h {VIP} -P {url.port or 3306} "
               f"-u {url.username} -e \"{sql}\"", input=unquote(url.password) + "\n")
    try:
        for n in NODES:
            out = on(n, f"mysql -N -B -e \"SELECT COUNT(*) FROM {table} WHERE v = '{value}'\"").stdout
            assert out.strip() == "1", f"{n} does not have the row"
    finally:
        on("ctl1", f"mysql -e 'DROP TABLE IF EXISTS {table}'", check=False)


def test_rabbitmq_three_running_nodes_and_a_quorum_queue_on_all(aa):
    want = sorted(f"rabbit@{n}" for n in NODES)
    for n in NODES:
        status = json.loads(on(n, "rabbitmqctl cluster_status --formatter json").stdout)
        assert sorted(status["running_nodes"]) == want, f"{n}: {status['running_nodes']}"
    transport = urlsplit(aa.output("transport_url").split(",")[0])
    queue = f"ha-e2e-{uuid.uuid4().hex[:8]}"
    declare = ("import amqp, sys; c = amqp.Connection(sys.argv[1], userid=sys.argv[2], password=sys.stdin.readline()"
               ".rstrip('\\n'), virtual_host='/'); c.connect(); ch = c.channel(); "
               "ch.queue_declare(sys.argv[3], durable=True, auto_delete=False, "
               "arguments={'x-queue-type': 'quorum'}); c.close()")
    on("ctl2", f"python3 -c \"{declare}\" {addr('ctl2')}:5672 {transport.username} {queue}",
       input=unquote(transport.password) + "\n")
    try:
        rows = on("ctl1", "rabbitmqctl list_queues --quiet --formatter json name type members").stdout
        found = [q for q in json.loads(rows) if q["name"] == queue]
        assert found and found[0]["type"] == "quorum", rows
        assert sorted(found[0]["members"]) == want, found
    finally:
        on("ctl1", f"rabbitmqctl delete_queue {queue}", check=False)


def test_haproxy_backends_of_the_deployed_services_are_up(aa):
    for n in NODES:
        stats = on(n, "echo 'show stat' | socat stdio /run/haproxy/admin.sock").stdout.splitlines()
        header = stats[0].lstrip("# ").split(",")
        rows = [dict(zip(header, line.split(","))) for line in stats[1:] if line]
        listeners = {r["pxname"] for r in rows if r["svname"] not in ("FRONTEND", "BACKEND")}
        assert listeners == set(DEPLOYED_LISTENERS), f"{n}: HAProxy balances {sorted(listeners)}"
        for listener in DEPLOYED_LISTENERS:
            servers = [r for r in rows if r["pxname"] == listener and r["svname"] not in ("FRONTEND", "BACKEND")]
            assert sorted(r["svname"] for r in servers) == NODES, f"{n}: {listener}"
            down = {r["svname"]: (r["status"], r["check_status"]) for r in servers if r["status"] != "UP"}
            assert not down, f"{n}: {listener} backends not UP: {down}"


def test_keystone_issues_a_token_through_the_vip_valid_on_every_controller(aa):
    token, catalog = admin_token(VIP)  # from the lab host, through HAProxy
    assert any(s["type"] == "identity" for s in catalog)
    # Every controller validates it: they share the fernet keys.
    for n in NODES:
        check = urllib.request.Request(f"http://{addr(n)}:5000/v3/auth/tokens",
                                       headers={"X-Auth-Token": token, "X-Subject-Token": token})
        with urllib.request.urlopen(check, timeout=30) as response:
            assert response.status == 200, n
    # Each controller runs the stack's keystone_processes uwsgi workers (plus the master).
    for n in NODES:
        workers = on(n, "pgrep -c -f 'keystone-uwsgi[.]ini' || true").stdout.strip()
        assert workers == "3", f"{n}: {workers} keystone uwsgi processes, want 2 workers + master"
    # The operator's openrc on ctl1 works too.
    on("ctl1", f". {OPENRC} && openstack token issue -f value -c id >/dev/null", timeout=120)


def test_glance_stores_an_image_through_the_vip_and_every_controller_knows_it(aa):
    token, catalog = admin_token(VIP)
    image = next(s for s in catalog if s["type"] == "image")
    assert {e["url"] for e in image["endpoints"]} == {f"http://{VIP}:9292"}

    def glance(method: str, path: str, base: str = f"http://{VIP}:9292", body: bytes | None = None,
               content_type: str = "application/json"):
        request = urllib.request.Request(base + path, data=body, method=method, headers={
            "X-Auth-Token": token, "Content-Type": content_type})
        return urllib.request.urlopen(request, timeout=60)

    name = f"ha-e2e-{uuid.uuid4().hex[:8]}"
    data = uuid.uuid4().bytes * 4096  # 64 KiB
    with glance("POST", "/v2/images", body=json.dumps({
            "name": name, "disk_format": "raw", "container_format": "bare"}).encode()) as response:
        assert response.status == 201
        image_id = json.load(response)["id"]
    try:
        # HAProxy balances glance by source address: this client's upload and download go to
        # one controller, whose file store holds the data (the store is per node; docs/active-active.md).
        with glance("PUT", f"/v2/images/{image_id}/file", body=data,
                    content_type="application/octet-stream") as response:
            assert response.status == 204
        with glance("GET", f"/v2/images/{image_id}/file") as response:
            assert response.read() == data
        # The image's record is in Galera: every controller's glance-api answers for it.
        for n in NODES:
            with glance("GET", f"/v2/images/{image_id}", base=f"http://{addr(n)}:9292") as response:
                shown = json.load(response)
            assert (shown["name"], shown["status"], shown["size"]) == (name, "active", len(data)), n
    finally:
        glance("DELETE", f"/v2/images/{image_id}").close()
    # The operator's openrc on ctl1 reaches glance through the catalog too.
    on("ctl1", f". {OPENRC} && openstack image list -f value -c Name >/dev/null", timeout=120)


# --- the OpenStack plane, through the VIP with openstacksdk (the clients users use) -----------

def test_nova_schedulers_and_conductors_up_on_every_controller_and_both_cells_mapped(aa):
    cloud = openstack_cloud()
    services = {(s.binary, s.host): s.state for s in cloud.compute.services()}
    for binary in ("nova-scheduler", "nova-conductor"):
        for n in NODES:
            assert services.get((binary, n)) == "up", f"{binary} on {n}: {services}"
    list(cloud.placement.resource_providers())  # placement answers through the VIP (none: no compute)
    cells = on("ctl1", "runuser -u nova -- nova-manage cell_v2 list_cells").stdout
    assert " cell0 " in cells and " cell1 " in cells, cells


def test_network_agents_l2_and_dhcp_everywhere_one_l3_and_one_metadata(aa):
    agents = wait_for_agents(openstack_cloud())
    for kind in ("Linux bridge agent", "DHCP agent"):
        assert sorted(a.host for a in agents if a.agent_type == kind and a.is_alive) == NODES, kind
    for kind in ("L3 agent", "Metadata agent"):
        alive = [a.host for a in agents if a.agent_type == kind and a.is_alive]
        assert len(alive) == 1, f"{kind}: {alive}"
    where = group_node("p_neutron-l3-agent")
    assert [a.host for a in agents if a.agent_type == "L3 agent" and a.is_alive] == [where]


def test_cinder_scheduler_and_heat_engine_up(aa):
    cloud = openstack_cloud()
    volume = {(s.binary, s.host.split("@")[0]): s.state for s in cloud.block_storage.services()}
    for n in NODES:
        assert volume.get(("cinder-scheduler", n)) == "up", volume
    engines = cloud.orchestration.get("/services").json()["services"]
    assert sorted({e["host"] for e in engines if e["status"] == "up"}) == NODES, engines


def test_heat_creates_and_deletes_a_network_stack(aa):
    """A stack with one neutron network is created and deleted, within 300 s each.

    A request that fails at the API is printed and the stack is then followed by its name:
    in one CI run in several, the first stack's heat-engine waited 2 x 60 s on keystone
    (HAProxy: two connections from the engine to keystone with no byte answered), heat-api
    answered 500 after its 60 s RPC timeout, and the stack completed 2 min later (issue 14's
    notes). What is held here is that heat builds and removes the stack."""
    cloud = openstack_cloud()
    name = f"ha-e2e-{uuid.uuid4().hex[:8]}"
    template = {"heat_template_version": "2018-08-31",
                "resources": {"net": {"type": "OS::Neutron::Net", "properties": {"name": name}}}}
    failed: list[str] = []

    def tolerated(what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except (ConnectFailure, openstack.exceptions.HttpException) as e:
            if isinstance(e, openstack.exceptions.HttpException) and (e.status_code or 500) < 500:
                raise
            failed.append(f"{time.strftime('%H:%M:%S')} {what}: {type(e).__name__}: {e}")
            print(f"\nheat: {failed[-1]}")
            return None

    def status() -> str | None:
        stack = tolerated("status", lambda: cloud.orchestration.find_stack(name))
        return stack.status if stack else None

    tolerated("create", lambda: cloud.orchestration.create_stack(name=name, template=template))
    wait_until(status, "CREATE_COMPLETE", f"stack {name}", timeout=300, every=3)
    assert cloud.network.find_network(name) is not None
    tolerated("delete", lambda: cloud.orchestration.delete_stack(cloud.orchestration.find_stack(name)))
    wait_until(lambda: status() in (None, "DELETE_COMPLETE"), True, f"stack {name} deleted", timeout=300, every=3)
    assert cloud.network.find_network(name) is None
    print(f"\nheat: {len(failed)} failed API request(s)")


def test_a_router_on_the_provider_network_is_hosted_by_the_l3_agent_and_answers(aa):
    """The router's namespace is on the node Pacemaker runs the L3 agent on, and its tenant
    address answers from every controller's DHCP namespace. Moving the group and losing its
    node are drills (make drills: l3_group_move, l3_agent_node_loss)."""
    cloud = openstack_cloud()
    router_id, gateway_ip, network_id = router_with_tenant_network(cloud)
    # A DHCP port on every DHCP agent (dhcp_agents_per_network = 3)
    dhcp = wait_until(lambda: sorted(p.binding_host_id for p in cloud.network.ports(
        network_id=network_id, device_owner="network:dhcp")), NODES, "a DHCP port on every controller")
    assert dhcp == NODES
    where = group_node("p_neutron-l3-agent")
    seconds = router_answers(router_id, gateway_ip, network_id, host=where)
    print(f"\nrouter {router_id}: answered on {gateway_ip} after {seconds:.1f}s, hosted on {where}")


def test_ceilometer_central_agent_runs_on_one_controller(aa):
    where = group_node("p_ceilometer-agent-central")
    for n in NODES:
        active = on(n, "systemctl is-active ceilometer-agent-central", check=False).stdout.strip()
        assert active == ("active" if n == where else "inactive"), f"{n}: {active}"


def test_zz_fencing_reboots_a_controller_that_comes_back_with_its_services(aa):
    """Last (it power-cycles ctl3): Pacemaker's fence device really fences, and the node
    rejoins Pacemaker, Galera and RabbitMQ by itself.

    Off, then on, as two operations: with `--reboot` a lab machine boots (~1.5 s) and joins
    before the fencer has reported the result, and Pacemaker on it then stops itself ("We
    were allegedly just fenced"); real hardware does not boot that fast."""
    on("ctl3", "touch /run/ha-e2e-before-fence")  # /run is a tmpfs: gone after a reboot
    start = time.monotonic()
    on("ctl1", "stonith_admin --fence ctl3 --timeout 120", timeout=180)
    assert lab("status", "ctl3", check=False).returncode == 2, "ctl3 is still powered on after its fence"
    on("ctl1", "stonith_admin --unfence ctl3 --timeout 120", timeout=180)
    deadline, rc = time.monotonic() + 60, None
    while time.monotonic() < deadline:  # 255: no SSH yet (booting), 0: the marker survived
        rc = on("ctl3", "test -e /run/ha-e2e-before-fence", check=False, timeout=20).returncode
        if rc != 255:
            break
        time.sleep(1)
    assert rc == 1, f"ctl3 was not rebooted (or is not back): test -e exited {rc}"

    def settled() -> str | None:
        mon = crm_mon()
        node = next(n for n in mon.find("nodes") if n.get("name") == "ctl3")
        if node.get("online") != "true":
            return "ctl3 is not online in Pacemaker"
        haproxy = [r for r in mon.find("resources").iter("resource") if r.get("id") == "p_haproxy"
                   and r.get("role") == "Started"]
        if len(haproxy) != 3:
            return "cl_haproxy does not run on 3 nodes"
        state = on("ctl3", "mysql -N -B -e \"SHOW GLOBAL STATUS LIKE 'wsrep_local_state_comment'\"",
                   check=False).stdout.split()
        if state[-1:] != ["Synced"]:
            return f"Galera on ctl3: {state}"
        running = on("ctl1", "rabbitmqctl cluster_status --formatter json", check=False).stdout
        if not running or len(json.loads(running)["running_nodes"]) != 3:
            return "RabbitMQ has not 3 running nodes"
        return None

    deadline, why = time.monotonic() + 240, "not checked"
    while time.monotonic() < deadline:
        why = settled()
        if why is None:
            break
        time.sleep(3)
    assert why is None, f"ctl3 did not come back after its fence within 240 s: {why}"
    print(f"\nfence (off, on) of ctl3 to everything back: {time.monotonic() - start:.1f}s")
