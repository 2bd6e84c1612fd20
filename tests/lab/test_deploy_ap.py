"""Seed chapter 2, active/passive: the real engine deploys stacks/Pulumi.lab-ap.yaml onto the
lab's kernel tier (QEMU guests: DRBD needs a kernel of its own).

One deployment for the module: `tools/lab --kernel reset` (fresh disks), a cold `pulumi up`
through the automation API (tests/engine/engine_helpers.py), then a second `up` that must
change nothing. At the end the kernel tier is reset again (test_kernel.py wants blank spare
disks). Run with `make lab-kernel-test`; like every lab test these FAIL when the lab or the
toolchain is missing.
"""
from __future__ import annotations

import time
import urllib.error
import urllib.request
from urllib.parse import unquote, urlsplit

import pytest

from .conftest import NODES, on
from .deploy import admin_token, assert_cluster_running, crm_mon, deployed

pytestmark = [pytest.mark.lab, pytest.mark.kernel]

STACK = "lab-ap"
VIPS = {"mysql": "10.77.11.101", "rabbitmq": "10.77.11.100", "api": "10.77.11.103"}
DRBD_NODES = ["ctl1", "ctl2"]


def k(node: str, cmd: str, **kw):
    return on(node, cmd, kernel=True, **kw)


@pytest.fixture(scope="module")
def ap(tmp_path_factory):
    yield from deployed(STACK, tmp_path_factory.mktemp(STACK), kernel=True)


def test_cold_up_creates_everything(ap):
    assert set(ap.first.summary) == {"create"}, ap.first.summary
    assert ap.first.summary["create"] == ap.resources
    assert ap.output("api_vip") == VIPS["api"]


def test_second_up_changes_nothing_and_runs_no_remote_command(ap):
    assert set(ap.second.summary) == {"same"}, ap.second.summary
    assert ap.logins_during_second == {n: 0 for n in NODES}, "the no-op up opened SSH sessions"


def test_pacemaker_every_node_online_every_resource_started_stonith_on(ap):
    resources = assert_cluster_running(kernel=True)
    assert [r for r in resources if r.get("resource_agent") == "stonith:fence_halab"]


def test_drbd_one_primary_both_up_to_date(ap):
    for res in ("mysql", "rabbitmq"):
        roles = [k(n, f"drbdadm role {res}").stdout.strip() for n in DRBD_NODES]
        assert sorted(roles) == ["Primary/Secondary", "Secondary/Primary"], f"{res}: {roles}"
        for n in DRBD_NODES:
            assert k(n, f"drbdadm dstate {res}").stdout.strip() == "UpToDate/UpToDate", f"{res} on {n}"


def test_mysql_answers_on_its_vip(ap):
    url = urlsplit(ap.output("database_urls")["keystone"])
    assert url.hostname == VIPS["mysql"]
    out = k("ctl3", f"IFS= read -r MYSQL_PWD; export MYSQL_PWD; mysql -N -B -h {url.hostname} "
                    f"-u {url.username} -e 'SELECT 1'", input=unquote(url.password) + "\n").stdout
    assert out.strip() == "1"


def test_rabbitmq_answers_on_its_vip(ap):
    transport = urlsplit(ap.output("transport_url").split(",")[0])
    assert transport.hostname == VIPS["rabbitmq"]
    connect = ("import amqp, sys; c = amqp.Connection(sys.argv[1], userid=sys.argv[2], "
               "password=sys.stdin.readline().rstrip('\\n'), virtual_host='/'); c.connect(); c.close()")
    k("ctl3", f"python3 -c \"{connect}\" {transport.hostname}:5672 {transport.username}",
      input=unquote(transport.password) + "\n")


def test_keystone_issues_a_token_through_the_api_vip(ap):
    token, catalog = admin_token(VIPS["api"], kernel=True)  # from the lab host
    assert token and any(s["type"] == "identity" for s in catalog)


def test_a_token_outlives_keystone_moving_to_another_node(ap):
    """Keystone runs on one node at a time (g_services_api); every node holds the same fernet
    keys (copied from ctl1 at deployment), so a token issued before the group moves is
    still valid on the node it moves to."""
    token, _ = admin_token(VIPS["api"], kernel=True)

    def where() -> str | None:
        group = next((g for g in crm_mon(kernel=True).find("resources").iter("group")
                      if g.get("id") == "g_services_api"), None)
        nodes = {n.get("name") for r in (group if group is not None else []) for n in r.iter("node")}
        return nodes.pop() if len(nodes) == 1 else None

    def valid() -> bool | None:
        check = urllib.request.Request(f"http://{VIPS['api']}:5000/v3/auth/tokens",
                                       headers={"X-Auth-Token": token, "X-Subject-Token": token})
        try:
            with urllib.request.urlopen(check, timeout=20) as response:
                return response.status == 200
        except urllib.error.HTTPError as err:
            return False if err.code in (401, 404) else None  # 401/404: keystone refused it
        except OSError:
            return None  # not answering yet

    before = where()
    assert before and valid(), f"g_services_api on {before}; the token is not valid before the move"
    target = next(n for n in NODES if n != before)
    k("ctl1", f"crm_resource --move --resource g_services_api --node {target}")
    try:
        deadline, answer = time.monotonic() + 600, None
        while time.monotonic() < deadline:
            if where() == target:
                answer = valid()
                if answer is not None:
                    break
            time.sleep(3)
        assert where() == target, f"g_services_api did not move to {target}"
        assert answer is True, f"keystone on {target} refused a token issued on {before}"
    finally:
        k("ctl1", "crm_resource --clear --resource g_services_api", check=False)
