"""Pre-flight checks of the active/active topology: every rejection names its field."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import re

import pytest

from ha_components.models import StackConfigError, format_loc, validate_stack
from ha_components.models.active_active import frontend_plan
from ha_components.stackfile import config_from_stack_file, load_stack_file

STACKS = Path(__file__).resolve().parent.parent / "stacks"


@pytest.fixture
def data() -> dict[str, Any]:
    """The lab's active/active stack (secrets as offline placeholders), to mutate."""
    return copy.deepcopy(config_from_stack_file(STACKS / "Pulumi.lab-aa.yaml"))


def problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    try:
        validate_stack(data)
    except StackConfigError as err:
        return [(format_loc(p.loc), p.message) for p in err.problems]
    return []


def assert_problem(data: dict[str, Any], loc: str, *words: str) -> None:
    found = problems(data)
    matching = [msg for where, msg in found if where == loc]
    assert matching, f"no problem at {loc}; got {found}"
    assert any(all(w in msg for w in words) for msg in matching), (loc, words, matching)


def test_lab_stack_is_valid(data):
    assert problems(data) == []
    stack = load_stack_file(STACKS / "Pulumi.lab-aa.yaml")
    assert stack.topology == "active-active"
    assert stack.galera and stack.galera.nodes == ["ctl1", "ctl2", "ctl3"]


def test_example_stack_is_valid():
    stack = load_stack_file(STACKS / "Pulumi.example-aa.yaml")
    assert stack.topology == "active-active"


@pytest.mark.parametrize("part", ["galera", "rabbitmq", "haproxy", "openstack"])
def test_active_active_needs_each_section(data, part):
    del data[part]
    assert_problem(data, part, "active-active topology needs")


# --- even and single-node counts -------------------------------------------------------

def test_galera_even_node_count_is_rejected(data):
    data["galera"]["nodes"] = ["ctl1", "ctl2"]
    assert_problem(data, "galera.nodes", "even", "galera.arbitrator")


def test_galera_two_nodes_with_an_arbitrator_is_accepted(data):
    data["galera"]["nodes"] = ["ctl1", "ctl2"]
    data["galera"]["arbitrator"] = "ctl3"
    assert problems(data) == []


def test_galera_arbitrator_with_an_odd_count_is_rejected(data):
    data["galera"]["arbitrator"] = "ctl3"
    assert_problem(data, "galera.arbitrator", "already a Galera node")
    data["galera"]["nodes"] = ["ctl1"]
    data["galera"]["arbitrator"] = "ctl2"
    assert_problem(data, "galera.arbitrator", "even number of votes")


def test_galera_arbitrator_must_be_a_host(data):
    data["galera"]["nodes"] = ["ctl1", "ctl2"]
    data["galera"]["arbitrator"] = "arb9"
    assert_problem(data, "galera.arbitrator", "'arb9' is not defined")


def test_galera_single_node_needs_development_opt_in(data):
    data["galera"]["nodes"] = ["ctl1"]
    assert_problem(data, "galera.nodes", "galera.development: true")
    data["galera"]["development"] = True
    assert problems(data) == []


def test_galera_development_is_only_for_one_node(data):
    data["galera"]["development"] = True
    assert_problem(data, "galera.development", "single-node")


def test_rabbitmq_even_node_count_is_rejected(data):
    data["rabbitmq"]["nodes"] = ["ctl1", "ctl2"]
    assert_problem(data, "rabbitmq.nodes", "even split", "rabbitmq.even_nodes_reason")
    data["rabbitmq"]["even_nodes_reason"] = "two racks, a third is being bought"
    assert problems(data) == []


def test_more_than_five_nodes_need_a_written_reason(data):
    """Issue 17: five is the largest cluster accepted without an opt-in (each refusal names
    its cluster and the field that allows it)."""
    ctl3 = json.dumps(next(h for h in data["hosts"] if h["name"] == "ctl3"))

    def grow(count: int) -> None:
        data["hosts"] = [h for h in data["hosts"] if h["name"] in ("ctl1", "ctl2", "ctl3")] + [
            json.loads(ctl3.replace("ctl3", f"ctl{i}").replace(".13", f".1{i}")) for i in range(4, count + 1)]
        for part in ("pacemaker", "galera", "rabbitmq"):
            data[part]["nodes"] = [f"ctl{i}" for i in range(1, count + 1)]

    grow(5)
    assert not [p for p in problems(data) if "large_cluster_reason" in p[1]]
    grow(7)
    for part in ("pacemaker", "galera", "rabbitmq"):
        assert_problem(data, f"{part}.nodes", "7 nodes: more than 5", "large_cluster_reason")
    data["large_cluster_reason"] = "seven racks, one controller each"
    assert not [p for p in problems(data) if "large_cluster_reason" in p[1]]


def test_leaving_controllers_must_be_defined_hosts_in_no_role_and_few_enough_for_quorum(data):
    """Issue 17: each refusal of a shrink names its field before any host is touched."""
    data["leaving"] = ["ctl3"]  # still in every role
    for loc in ("pacemaker.nodes", "galera.nodes", "rabbitmq.nodes", "haproxy.nodes",
                "pacemaker.fencing.devices[0].targets"):
        assert_problem(data, loc, "'ctl3' is leaving (leaving[0])", f"remove it from {loc}")
    data["leaving"] = ["ctl9"]
    assert_problem(data, "leaving[0]", "host 'ctl9' is not defined")
    ctl3 = json.dumps(next(h for h in data["hosts"] if h["name"] == "ctl3"))
    data["hosts"] += [json.loads(ctl3.replace("ctl3", f"ctl{i}").replace(".13", f".1{i}")) for i in (4, 5)]
    data["leaving"] = ["ctl3", "ctl4", "ctl5"]  # from five, with two staying
    for part in ("pacemaker", "galera", "rabbitmq", "haproxy"):
        data[part]["nodes"] = ["ctl1", "ctl2"]
    data["pacemaker"]["fencing"]["devices"][0]["targets"] = ["ctl1", "ctl2"]
    assert_problem(data, "leaving", "3 of 5 controllers leaving at once", "no majority", "at most 1")
    data["leaving"] = ["ctl4", "ctl5"]
    for part in ("pacemaker", "galera", "rabbitmq", "haproxy"):
        data[part]["nodes"] = ["ctl1", "ctl2", "ctl3"]
    data["pacemaker"]["fencing"]["devices"][0]["targets"] = ["ctl1", "ctl2", "ctl3"]
    assert problems(data) == []


def test_rabbitmq_single_node_needs_development_opt_in(data):
    data["rabbitmq"]["nodes"] = ["ctl1"]
    assert_problem(data, "rabbitmq.nodes", "rabbitmq.development: true")
    data["rabbitmq"]["development"] = True
    assert problems(data) == []


# --- HAProxy addresses and ports -------------------------------------------------------

def test_listener_colliding_with_a_backend_on_the_same_host(data):
    # keystone listens on ctl1's own address, port 5000: a listener there cannot bind it.
    data["haproxy"]["custom_listeners"] = [
        {"name": "keystone_direct", "port": 5000, "bind_address": "10.77.1.11"}]
    assert_problem(data, "haproxy.custom_listeners[0]", "10.77.1.11:5000", "host 'ctl1'",
                   "backend listens")


def test_stats_page_colliding_with_a_backend(data):
    data["openstack"]["services"] = ["keystone", "glance-api"]  # HAProxy then fronts glance-api
    data["haproxy"]["stats_port"] = 9292  # glance-api's backend port on the node addresses
    assert_problem(data, "haproxy.stats_port", "glance_api backend")


def test_stats_page_colliding_with_the_galera_health_check(data):
    data["haproxy"]["stats_port"] = 9200
    assert_problem(data, "haproxy.stats_port", "galera health check")


def test_two_listeners_on_the_same_address_and_port(data):
    data["haproxy"]["custom_listeners"] = [{"name": "identity", "port": 5000}]
    assert_problem(data, "haproxy.custom_listeners[0]", "10.77.1.110:5000",
                   "listener keystone_public (haproxy.listeners[1]) already binds")


def test_two_listeners_with_the_same_name(data):
    data["haproxy"]["custom_listeners"] = [{"name": "keystone_admin", "port": 6083}]
    assert_problem(data, "haproxy.custom_listeners", "'keystone_admin' is used twice")


def test_default_listeners_follow_the_deployed_services(data):
    """Without haproxy.listeners, HAProxy fronts Galera and the APIs the stack deploys, and
    nothing else: a listener with no backend would only ever show DOWN."""
    def names() -> list[str]:
        return [p.name for p in frontend_plan(validate_stack(data))]

    assert {"placement_api", "nova_compute_api", "nova_metadata_api", "neutron_api", "cinder_api",
            "heat_api"} <= set(names())  # the lab's whole control plane
    data["openstack"]["services"] = ["keystone", "glance-api"]
    assert names() == ["galera", "keystone_public", "keystone_admin", "glance_api"]
    data["openstack"]["services"] = ["keystone"]
    assert names() == ["galera", "keystone_public", "keystone_admin"]
    data["openstack"]["services"] = ["keystone", "nova-api", "nova-scheduler", "glance-api"]
    data["openstack"]["service_passwords"].update(nova="nova-secret", glance="glance-secret")
    assert names() == ["galera", "keystone_public", "keystone_admin", "nova_compute_api",
                       "nova_metadata_api", "glance_api"]
    data["haproxy"]["listeners"] = ["galera", "dashboard"]  # an explicit list is kept as written
    assert names() == ["galera", "dashboard"]


def test_backend_host_not_in_the_stack(data):
    data["haproxy"]["custom_listeners"] = [{"name": "octavia", "port": 9876, "backends": ["ctl1", "ctl9"]}]
    assert_problem(data, "haproxy.custom_listeners[0].backends[1]", "'ctl9' is not defined")


def test_default_backends_must_be_hosts(data):
    data["haproxy"]["backends"] = ["ctl1", "web7"]
    assert_problem(data, "haproxy.backends[1]", "'web7' is not defined")


def test_haproxy_nodes_must_be_pacemaker_nodes(data):
    data["hosts"].append({"name": "lb4", "ssh": {"host": "10.77.1.14", "private_key_path": "/k"},
                          "addresses": ["10.77.1.14", "10.77.2.14"]})
    data["haproxy"]["nodes"] = ["ctl1", "lb4"]
    assert_problem(data, "haproxy.nodes[1]", "pacemaker node 'lb4' is not defined")


def test_galera_and_rabbit_nodes_must_be_hosts(data):
    data["galera"]["nodes"] = ["ctl1", "ctl2", "db3"]
    data["rabbitmq"]["nodes"] = ["mq1", "ctl2", "ctl3"]
    assert_problem(data, "galera.nodes[2]", "'db3' is not defined")
    assert_problem(data, "rabbitmq.nodes[0]", "'mq1' is not defined")


def test_unknown_listener_name(data):
    data["haproxy"]["listeners"] = ["keystone_public", "horizon"]
    assert_problem(data, "haproxy.listeners", "unknown listener", "custom_listeners")


def test_galera_listener_is_required(data):
    data["haproxy"]["listeners"] = ["keystone_public"]
    assert_problem(data, "haproxy.listeners", "'galera' listener")


def test_keystone_processes_are_rendered_after_the_ini_that_they_override(data):
    from ha_components.catalog import SERVICES
    from ha_components.render.openstack import uwsgi_defaults

    keystone = SERVICES["keystone"].units[0]
    assert uwsgi_defaults(keystone, "10.77.1.11").strip().endswith(
        'DAEMON_ARGS="--http-socket 10.77.1.11:5000 --ini /etc/keystone/keystone-uwsgi.ini"')
    assert uwsgi_defaults(keystone, "10.77.1.11", processes=2).strip().endswith(
        '--ini /etc/keystone/keystone-uwsgi.ini --processes 2"')
    # active/passive: every address (the VIP moves between nodes)
    metadata = SERVICES["nova-api"].units[1]
    assert uwsgi_defaults(metadata, None, 1).strip().endswith(
        'DAEMON_ARGS="--http-socket :8775 --ini /etc/nova/nova-api-metadata-uwsgi.ini --processes 1"')
    data["openstack"]["keystone_processes"] = 0
    assert_problem(data, "openstack.keystone_processes", "greater than or equal to 1")


def test_api_vip_is_the_haproxy_vip(data):
    data["vips"].append({"name": "other", "address": "10.77.1.111"})
    data["openstack"]["api_vip"] = "other"
    assert_problem(data, "openstack.api_vip", "HAProxy's")


def test_haproxy_vip_must_exist(data):
    data["haproxy"]["vip"] = "nope"
    assert_problem(data, "haproxy.vip", "'nope' is not defined")


def test_link_without_an_address(data):
    data["galera"]["link"] = 2
    assert_problem(data, "galera.link", "no address for link 2")


# --- secrets ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    ("galera", "sst_password"),
    ("rabbitmq", "erlang_cookie"),
    ("haproxy", "stats_password"),
])
def test_missing_secret_names_the_field(data, path):
    del data[path[0]][path[1]]
    assert_problem(data, ".".join(path), "Field required")


def test_missing_rabbit_user_password(data):
    del data["rabbitmq"]["users"][0]["password"]
    assert_problem(data, "rabbitmq.users[0].password", "Field required")


def test_missing_service_password(data):
    data["openstack"]["services"] = ["keystone", "cinder-api", "nova-scheduler"]
    for project in ("cinder", "nova"):
        data["openstack"]["service_passwords"].pop(project, None)
    assert_problem(data, "openstack.service_passwords.cinder", "missing secret", "--secret")
    assert_problem(data, "openstack.service_passwords.nova", "missing secret")


def test_settings_are_only_for_deployed_projects(data):
    data["openstack"]["services"] = ["keystone", "glance-api"]
    data["openstack"]["settings"] = {"glance": {"DEFAULT": {"debug": "true"}},
                                     "nova": {"DEFAULT": {"debug": "true"}}}
    assert_problem(data, "openstack.settings.nova", "not a project of openstack.services")
    assert [loc for loc, _ in problems(data)] == ["openstack.settings.nova"]


def test_plain_text_secret_is_rejected(tmp_path):
    text = re.sub(r"sst_password:\n\s+secure: \S+", "sst_password: hunter2hunter2",
                  (STACKS / "Pulumi.lab-aa.yaml").read_text())
    assert "hunter2" in text
    path = tmp_path / "Pulumi.plain.yaml"
    path.write_text(text)
    with pytest.raises(StackConfigError) as err:
        load_stack_file(path)
    assert [format_loc(p.loc) for p in err.value.problems] == ["galera.sst_password"]
    assert "plain text" in str(err.value)


def test_config_file_password_characters(data):
    data["galera"]["sst_password"] = 'pa ss"word'
    assert_problem(data, "galera.sst_password", "whitespace")
    data["galera"]["sst_password"] = "fine-password-123"
    data["haproxy"]["stats_password"] = "with$dollar"
    assert_problem(data, "haproxy.stats_password", "'$'")


def test_erlang_cookie_format(data):
    data["rabbitmq"]["erlang_cookie"] = "short"
    assert_problem(data, "rabbitmq.erlang_cookie", "20 to 255 letters and digits")


def test_galera_options_cannot_override_the_seed_settings(data):
    data["galera"]["options"] = {"binlog_format": "STATEMENT"}
    assert_problem(data, "galera.options", "binlog_format")
    data["galera"]["options"] = {"wsrep_provider": "/tmp/x.so"}
    assert_problem(data, "galera.options", "wsrep_provider")


def test_duplicate_rabbit_users(data):
    user = data["rabbitmq"]["users"][0]
    data["rabbitmq"]["users"] = [user, dict(user)]
    assert_problem(data, "rabbitmq.users", "'openstack' is listed more than once")
