"""The active/active components under Pulumi mocks: graph, ordering, triggers, secrets.

The mock monitor sees each resource's inputs but not its dependencies; those come
from remote.RECORDED, where the remote layer notes every command's parent and
depends_on as the program passed them.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import json
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime.rpc import unwrap_rpc_secret

from ha_components import remote
from ha_components.dryrun import record_program
from ha_components.models import validate_stack
from ha_components.stackfile import config_from_stack_file
from ha_components.types import Token

from .helpers import lab_stack_grown, lab_stack_leaving, waits_for

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Cmd:
    name: str
    deps: list[str]
    parent: str | None
    inputs: dict[str, Any] = field(default_factory=dict)  # unwrapped, plus `secret_inputs`

    @property
    def create(self) -> str:
        return unwrap_rpc_secret(self.inputs.get("create")) or ""


@dataclass
class Program:
    commands: dict[str, Cmd]
    types: dict[str, str]  # resource name -> type token
    outputs: dict[str, Any]
    secret_outputs: dict[str, bool]

    def before(self, first: str, then: str) -> bool:
        return first in waits_for(then)


def run_program(stack) -> Program:
    from ha_components.topologies import build

    recording = record_program(lambda: build(stack))
    commands = {name: Cmd(name, list(remote.RECORDED[name].after), remote.RECORDED[name].parent or None,
                          inputs) for name, inputs in recording.commands}
    return Program(commands, recording.types, recording.outputs, recording.secret_outputs)


# Every secret of the stack gets a distinctive, valid value; none may leak into a command line.
AUTHKEY = base64.b64encode(bytes(range(256))).decode()


def real_secrets(data: Any, found: list[str], path: str = "") -> Any:
    if isinstance(data, dict):
        return {k: real_secrets(v, found, f"{path}.{k}") for k, v in data.items()}
    if isinstance(data, list):
        return [real_secrets(v, found, f"{path}{i}") for i, v in enumerate(data)]
    if isinstance(data, str) and data.startswith("<secret:"):
        # From the secret's path, not its position: a stack with more hosts keeps the same values.
        value = AUTHKEY if path.endswith("authkey") else f"Zq{hashlib.sha256(path.encode()).hexdigest()[:8]}" + "x7Kp" * 6
        found.append(value)
        return value
    return data


def lab_stack(secrets: list[str] | None = None, controllers: int = 3, leaving: list[str] = [], **changes: Any):
    path = ROOT / "stacks" / "Pulumi.lab-aa.yaml"
    if controllers != 3:
        path = Path(tempfile.mkdtemp()) / path.name
        path.write_text(lab_stack_leaving(lab_stack_grown((ROOT / "stacks" / "Pulumi.lab-aa.yaml").read_text(),
                                                          controllers), leaving))
    data = copy.deepcopy(config_from_stack_file(path))
    for host in data["hosts"]:  # an inline key: the test reads no key file
        host["ssh"].pop("private_key_path")
        host["ssh"]["private_key"] = f"<secret:hosts.{host['name']}.ssh.private_key>"
    for part, values in changes.items():
        data[part] = {**data[part], **values} if isinstance(data.get(part), dict) else values
    return validate_stack(real_secrets(data, secrets if secrets is not None else []))


@pytest.fixture
def lab() -> Program:
    return run_program(lab_stack())


def test_components_and_their_children(lab):
    types = set(lab.types.values())
    for token in (Token.GALERA_CLUSTER, Token.RABBIT_HA_CLUSTER, Token.HAPROXY_FRONTEND,
                  Token.PACEMAKER_CLUSTER, Token.OPENSTACK_SERVICE_VIP):
        assert token in types
    assert lab.types["galera"] == Token.GALERA_CLUSTER
    assert lab.types["rabbitmq"] == Token.RABBIT_HA_CLUSTER
    assert lab.types["haproxy"] == Token.HAPROXY_FRONTEND
    for name, cmd in lab.commands.items():
        assert cmd.parent is not None, f"{name} has no parent"
        for prefix in ("galera", "rabbitmq", "haproxy"):
            if name.startswith(prefix + "-"):
                assert cmd.parent == prefix, (name, cmd.parent)


def test_galera_bootstrap_strictly_before_every_joiner_and_joiners_in_sequence(lab):
    boot, j2, j3 = "galera-ctl1-start", "galera-ctl2-start", "galera-ctl3-start"
    assert "galera_new_cluster" in lab.commands[boot].create
    for joiner in (j2, j3):
        assert "galera_new_cluster" not in lab.commands[joiner].create
        assert lab.before(boot, joiner)
        assert lab.before("galera-accounts", joiner)  # the SST account exists before anyone joins
    assert lab.before(j2, j3) and not lab.before(j3, j2)
    assert not lab.before(j2, boot) and not lab.before(j3, boot)
    # Each node's config is in place before it starts.
    for node in ("ctl1", "ctl2", "ctl3"):
        assert lab.before(f"galera-{node}-config", f"galera-{node}-start")
        assert lab.before(f"galera-{node}-sst-config", f"galera-{node}-start")


def test_destroy_stops_galera_and_rabbitmq_nodes_keeping_their_data(lab):
    """`pulumi destroy` deletes in reverse dependency order, so the bootstrap / first node
    stops last: Galera marks it safe_to_bootstrap and a later `up` starts from it."""
    for service, unit in (("galera", "mariadb"), ("rabbitmq", "rabbitmq-server")):
        for node in ("ctl1", "ctl2", "ctl3"):
            delete = unwrap_rpc_secret(lab.commands[f"{service}-{node}-start"].inputs.get("delete")) or ""
            assert f"systemctl disable --now {unit}" in delete, (service, node, delete)
            assert "rm " not in delete and "reset" not in delete, "destroy must keep the data"
    assert "safe_to_bootstrap" in lab.commands["galera-ctl1-start"].create


def test_galera_waits_for_the_whole_cluster_size(lab):
    size = lab.commands["galera-cluster-size"]
    assert '"$size" = 3' in size.create
    assert lab.before("galera-ctl3-start", "galera-cluster-size")
    # Services come only after the database cluster is complete.
    assert lab.before("galera-cluster-size", "api-ctl2-keystone")


def test_galera_two_nodes_and_an_arbitrator():
    program = run_program(lab_stack(galera={"nodes": ["ctl1", "ctl2"], "arbitrator": "ctl3"}))
    assert program.before("galera-ctl2-start", "galera-ctl3-arbitrator-start")
    assert program.before("galera-ctl3-arbitrator-start", "galera-cluster-size")
    assert '"$size" = 3' in program.commands["galera-cluster-size"].create
    assert "galera-ctl3-start" not in program.commands


def test_galera_health_endpoint_on_every_node_before_the_cluster_is_ready(lab):
    for node in ("ctl1", "ctl2", "ctl3"):
        health = lab.commands[f"galera-{node}-health"]
        assert "ha-galera-health.service" in health.create and "disable --now ha-galera-health.socket" in health.create
        # The unit's and script's hash in stdin: a change restarts it in place (remote.run).
        assert not health.inputs.get("triggers") and health.inputs.get("stdin")
        assert lab.before(f"galera-{node}-health", "galera-cluster-size")
    # One node's endpoint (re)started at a time: HAProxy never sees every check fail at once.
    assert lab.before("galera-ctl1-health", "galera-ctl2-health")
    assert lab.before("galera-ctl2-health", "galera-ctl3-health")


def test_erlang_cookie_pushed_before_any_rabbitmq_start(lab):
    starts = [f"rabbitmq-{n}-start" for n in ("ctl1", "ctl2", "ctl3")]
    for node, start in zip(("ctl1", "ctl2", "ctl3"), starts):
        cookie = lab.commands[f"rabbitmq-{node}-cookie"]
        assert "chmod 0400" in cookie.create and "chown rabbitmq:rabbitmq" in cookie.create
        assert lab.before(f"rabbitmq-{node}-cookie", start)
        assert lab.before(f"rabbitmq-{node}-config", start)
        assert lab.before(f"rabbitmq-{node}-hosts", start)
        # The package install itself never starts the broker.
        assert "policy-rc.d" in lab.commands[f"rabbitmq-{node}-packages"].create
        assert lab.before(f"rabbitmq-{node}-packages", f"rabbitmq-{node}-cookie")
    assert lab.before(starts[0], starts[1]) and lab.before(starts[1], starts[2])
    assert "join_cluster" not in lab.commands[starts[0]].create
    assert "join_cluster rabbit@ctl1" in lab.commands[starts[1]].create


def test_rabbitmq_users_and_definitions_after_every_node_runs(lab):
    running = lab.commands["rabbitmq-running"]
    assert "rabbit@ctl1 rabbit@ctl2 rabbit@ctl3" in running.create
    assert lab.before("rabbitmq-ctl3-start", "rabbitmq-running")
    assert lab.before("rabbitmq-running", "rabbitmq-users")
    assert lab.before("rabbitmq-users", "rabbitmq-definitions")
    assert "server_version" not in lab.commands["rabbitmq-definitions"].create  # quorum: no policy


def test_classic_mirrored_policy_is_guarded_to_rabbitmq_below_4():
    program = run_program(lab_stack(rabbitmq={"queue_ha": "classic-mirrored"}))
    script = program.commands["rabbitmq-definitions"].create
    assert "server_version" in script and '-ge 4' in script
    definitions = json.loads(unwrap_rpc_secret(program.commands["rabbitmq-definitions-file"].inputs["stdin"]))
    assert definitions["policies"][0]["definition"]["ha-mode"] == "all"


def test_haproxy_config_checked_before_reload(lab):
    for node in ("ctl1", "ctl2", "ctl3"):
        staged = f"haproxy-{node}-config"
        check, reload = f"haproxy-{node}-config-check", f"haproxy-{node}-reload"
        assert "haproxy.cfg.ha-openstack" in lab.commands[staged].create
        assert "haproxy -c" in lab.commands[check].create
        assert "systemctl reload haproxy" in lab.commands[reload].create
        assert "systemctl reload" not in lab.commands[check].create
        assert lab.before(staged, check) and lab.before(check, reload)
        # A changed config re-runs both (content hash triggers).
        assert lab.commands[check].inputs.get("triggers")
        assert lab.commands[reload].inputs.get("triggers")
        assert lab.before(reload, "haproxy-cib")  # Pacemaker starts the clone on a checked config


def test_vip_is_colocated_with_the_haproxy_clone(lab):
    clone = unwrap_rpc_secret(lab.commands["haproxy-cib"].inputs["stdin"])
    assert '<clone id="cl_haproxy">' in clone and 'class="systemd" type="haproxy"' in clone
    vip = unwrap_rpc_secret(lab.commands["api-cib"].inputs["stdin"])
    assert 'type="IPaddr2"' in vip and 'value="10.77.1.110"' in vip
    assert 'rsc="p_ip_api" with-rsc="cl_haproxy"' in vip
    assert lab.before("haproxy-cib", "api-cib")


def _comparable(program: Program) -> dict[str, Any]:
    return {name: {k: unwrap_rpc_secret(v) for k, v in cmd.inputs.items()} | {"deps": sorted(cmd.deps)}
            for name, cmd in program.commands.items()}


def test_changing_one_backend_changes_only_haproxy_resources():
    before = _comparable(run_program(lab_stack()))
    after = _comparable(run_program(lab_stack(haproxy={"backends": ["ctl1", "ctl2"]})))
    assert before.keys() == after.keys()
    changed = sorted(name for name in before if before[name] != after[name])
    assert changed, "the backend change must reach haproxy.cfg"
    assert all(name.startswith("haproxy-") for name in changed), changed
    assert {"haproxy-ctl1-config", "haproxy-ctl1-config-check", "haproxy-ctl1-reload"} <= set(changed)


def test_no_secret_in_any_command_string():
    secrets: list[str] = []
    program = run_program(lab_stack(secrets))
    assert len(secrets) >= 8
    for name, cmd in program.commands.items():
        for key in ("create", "delete", "update"):
            text = unwrap_rpc_secret(cmd.inputs.get(key)) or ""
            leaked = [s for s in secrets if s in text]
            assert not leaked, f"{name}.{key} holds a secret"


def test_commands_carrying_secrets_are_marked_secret():
    secrets: list[str] = []
    program = run_program(lab_stack(secrets))
    carrying = []
    for name, cmd in program.commands.items():
        stdin = cmd.inputs.get("stdin")
        if any(s in (unwrap_rpc_secret(stdin) or "") for s in secrets):
            carrying.append(name)
            assert "stdin" in cmd.inputs["secret_inputs"], f"{name}: stdin not secret"
    for expected in ("galera-accounts", "galera-ctl1-sst-config", "rabbitmq-users", "rabbitmq-ctl2-cookie",
                     "haproxy-ctl1-config", "keystone-bootstrap"):
        assert expected in carrying
    # Passwords never reach non-secret files: the Galera and RabbitMQ configs hold none.
    for name in ("galera-ctl1-config", "rabbitmq-ctl1-config", "rabbitmq-definitions-file"):
        assert name not in carrying


def test_outputs_holding_passwords_are_secret():
    secrets: list[str] = []
    program = run_program(lab_stack(secrets))
    for key in ("transport_url", "database_urls"):
        assert program.secret_outputs[key], key
    assert any(s in program.outputs["transport_url"] for s in secrets)
    assert program.outputs["transport_url"].count("@10.77.1.1") == 3
    assert program.outputs["database_urls"]["keystone"].endswith("@10.77.1.110/keystone")
    for key, value in program.outputs.items():
        if not program.secret_outputs[key]:
            assert not any(s in json.dumps(value) for s in secrets), key
    assert program.outputs["oslo_messaging_settings"]["oslo_messaging_rabbit"]["rabbit_quorum_queue"] == "true"
    assert program.outputs["memcached_servers"] == ["10.77.1.11:11211", "10.77.1.12:11211", "10.77.1.13:11211"]


def test_services_on_every_controller_with_memcached_and_the_same_keystone_keys(lab):
    for node in ("ctl1", "ctl2", "ctl3"):
        memcached, keystone = lab.commands[f"api-{node}-memcached"], lab.commands[f"api-{node}-keystone"]
        assert "systemctl start memcached" in memcached.create and "systemctl start keystone" in keystone.create
        # The files' hash in stdin: a change re-runs create (a restart), never the stopping delete.
        assert not keystone.inputs.get("triggers") and keystone.inputs.get("stdin")
        assert lab.before(f"api-{node}-etc-memcached-conf", f"api-{node}-memcached")
        assert lab.before(f"api-{node}-etc-default-keystone", f"api-{node}-keystone")
        assert "systemctl disable" not in lab.commands[f"api-{node}-packages"].create
    for node in ("ctl2", "ctl3"):
        assert lab.before("keystone-keys-export", f"keystone-{node}-keys-import")
    # The keys are shared before the admin exists: no token is signed with keys replaced later.
    assert lab.before("keystone-keys-export", "keystone-bootstrap")
    assert lab.before("keystone-ctl2-keys-import", "keystone-bootstrap")


def test_glance_gets_its_schema_service_user_and_answers_through_the_vip(lab):
    schema = lab.commands["glance-schema"]
    assert "runuser -u glance -- sh -c 'glance-manage db_sync'" in shlex.split(schema.create)[-1]
    assert "mysqladmin" in schema.create  # waits for the database on the VIP first
    assert lab.before("api-cib", "glance-schema")
    users = lab.commands["service-users"]
    assert "stdin" in users.inputs["secret_inputs"]
    assert set(json.loads(unwrap_rpc_secret(users.inputs["stdin"]))) == {
        "glance", "placement", "nova", "neutron", "cinder", "heat", "ceilometer"}
    assert lab.before("keystone-ready", "service-users")
    ready = lab.commands["api-ready"]
    assert "http://10.77.1.110:9292/" in ready.create
    for first in ("glance-schema", "service-users", "api-endpoints"):
        assert lab.before(first, "api-ready"), first


@pytest.mark.parametrize("uwsgi", [False, True])
def test_glance_init_script_reads_the_fragment_after_the_package_conf(lab, uwsgi):
    """Debian's init script passes --config-file=/etc/glance/glance-api.conf, which oslo.config
    reads after the default config dirs: without a later --config-dir, glance kept the
    package's auth_url (http://localhost:5000) and refused every token on the lab."""
    for node in ("ctl1", "ctl2", "ctl3"):
        assert lab.before(f"api-{node}-etc-default-glance-api", f"api-{node}-glance")
    defaults = unwrap_rpc_secret(lab.commands["api-ctl1-etc-default-glance-api"].inputs["stdin"])
    # Sourced as /etc/init.d/glance-api does, after it has set DAEMON_ARGS.
    preset = "NO_OPENSTACK_CONFIG_FILE_DAEMON_ARG=yes; DAEMON_ARGS='--ini x.ini'" if uwsgi \
        else "DAEMON_ARGS='--config-file=/etc/glance/glance-api.conf'"
    args = subprocess.run(["sh", "-euc", f'{preset}\n{defaults}\nprintf %s "$DAEMON_ARGS"'],
                          capture_output=True, text=True, check=True).stdout
    assert args == ("--ini x.ini" if uwsgi else
                    "--config-file=/etc/glance/glance-api.conf --config-dir=/etc/glance/glance.conf.d")


def test_glance_store_defaults_and_the_stack_settings_over_them():
    def glance_conf(program: Program) -> str:
        return unwrap_rpc_secret(program.commands["api-ctl1-etc-glance-glance-conf-d-100-ha-openstack-conf"]
                                 .inputs["stdin"])

    conf = glance_conf(run_program(lab_stack()))
    assert "[paste_deploy]\nflavor = keystone\n" in conf
    assert "region_name = RegionOne\n" in conf  # not the package's regionOne
    assert "default_store = file\n" in conf and "filesystem_store_datadir = /var/lib/glance/images/" in conf
    conf = glance_conf(run_program(lab_stack(openstack={"settings": {"glance": {
        "glance_store": {"stores": "rbd", "default_store": "rbd"}, "DEFAULT": {"show_image_direct_url": "true"}}}})))
    assert "stores = rbd\ndefault_store = rbd\n" in conf and "filesystem_store_datadir" in conf
    assert "show_image_direct_url = true" in conf and "bind_host = 10.77.1.11" in conf


def test_config_changes_roll_through_the_nodes_one_at_a_time():
    before = run_program(lab_stack())
    for service in ("galera", "rabbitmq"):
        first = "galera-cluster-size" if service == "galera" else "rabbitmq-running"
        chain = [f"{service}-{n}-rolling-restart" for n in ("ctl1", "ctl2", "ctl3")]
        assert before.before(first, chain[0])
        assert before.before(chain[0], chain[1]) and before.before(chain[1], chain[2])
        for name in chain:
            assert "sha256sum --quiet --check" in before.commands[name].create
            assert before.commands[name].inputs.get("triggers")
    assert before.before("galera-ctl3-rolling-restart", "api-ctl1-keystone")  # galera.ready
    after = run_program(lab_stack(galera={"options": {"innodb_buffer_pool_size": "2G"}}))
    a, b = _comparable(before), _comparable(after)
    changed = sorted(name for name in a if a[name] != b[name])
    assert changed == sorted([f"galera-{n}-config" for n in ("ctl1", "ctl2", "ctl3")]
                             + [f"galera-{n}-rolling-restart" for n in ("ctl1", "ctl2", "ctl3")])


def test_shrinking_lets_the_leaving_controllers_go_first_and_leaves_the_three_node_program():
    """Issue 17: with ctl4 and ctl5 in `leaving`, a check on a staying node, then their servers
    drained in every HAProxy, then each leaving node leaves the clusters on itself, one at a
    time, before any command of the staying nodes runs; Pacemaker forgets them after the
    reload. Everything else is the three-node program: the engine deletes the leaving nodes'
    other commands."""
    three, shrunk = run_program(lab_stack()), run_program(lab_stack(controllers=5, leaving=["ctl4", "ctl5"]))
    a, b = _comparable(three), _comparable(shrunk)
    drains = {f"leaving-drain-{n}" for n in ("ctl1", "ctl2", "ctl3")}
    leave_steps = {"leaving-check", "leaving-ctl4", "leaving-ctl5"} | drains
    assert set(b) - set(a) == leave_steps | {"cluster-forget"}
    assert set(a) - set(b) == set()
    # The check comes before anything else touches a host: a refusal leaves every node as it was.
    for name in set(b) - {"leaving-check"}:
        assert shrunk.before("leaving-check", name), name
    for name in set(b) - leave_steps:
        assert "leaving-ctl5" in b[name]["deps"], name
    for drain in drains:
        assert shrunk.before(drain, "leaving-ctl4"), drain
    assert shrunk.before("leaving-ctl4", "leaving-ctl5")
    # Apart from that order the staying nodes' commands are the three-node program's; only the
    # check before corosync.conf changes accepts the departed nodes.
    changed = {name for name in a if {**a[name], "deps": None} != {**b[name], "deps": None}}
    assert changed == {f"cluster-{n}-members-check" for n in ("ctl1", "ctl2", "ctl3")}, changed
    assert [d for d in b["cluster-ready"]["deps"] if d not in a["cluster-ready"]["deps"]] == ["cluster-forget", "leaving-ctl5"]
    assert shrunk.before("cluster-corosync-reload", "cluster-forget") and shrunk.before("cluster-forget", "cluster-ready")
    assert "crm_node --force --remove ctl4" in shrunk.commands["cluster-forget"].create
    drain = shrunk.commands["leaving-drain-ctl2"].create
    assert "state drain" in drain and "ctl4 ctl5" in drain and "/run/haproxy/admin.sock" in drain
    leave = shrunk.commands["leaving-ctl4"].create
    for step in ("--name standby --update on", "systemctl disable --now memcached keystone", "rabbitmq-queues shrink",
                 "rabbitmqctl reset", "systemctl disable --now mariadb", "systemctl disable --now pacemaker corosync"):
        assert step in leave, step
    assert leave.index("standby") < leave.index("rabbitmqctl reset") < leave.index("disable --now mariadb") \
        < leave.index("disable --now pacemaker corosync")


def test_growing_to_five_controllers_restarts_no_running_database_broker_or_cluster_node():
    """Issue 17: the members of Galera and RabbitMQ are files outside the restart stamps,
    corosync re-reads its node list, the new nodes join after the others; the OpenStack units
    (whose memcached and broker lists grew) restart one node at a time."""
    three, five = run_program(lab_stack()), run_program(lab_stack(controllers=5))
    a, b = _comparable(three), _comparable(five)
    changed = {name for name in a if a[name] != b[name]}
    for node in ("ctl1", "ctl2", "ctl3"):
        for kept in (f"galera-{node}-config", f"rabbitmq-{node}-start", f"rabbitmq-{node}-config",
                     f"cluster-{node}-start"):
            assert kept not in changed, kept
        # Re-run (the waits name five nodes), but their stamps say the config is the same.
        for restart in (f"galera-{node}-rolling-restart", f"rabbitmq-{node}-rolling-restart"):
            assert a[restart]["triggers"] == b[restart]["triggers"], restart
        for grown in (f"galera-{node}-members", f"rabbitmq-{node}-members", f"cluster-{node}-corosync-conf",
                      f"haproxy-{node}-config"):
            assert grown in changed, grown
    assert "gcomm://10.77.1.11,10.77.1.12,10.77.1.13,10.77.1.14,10.77.1.15" in five.commands["galera-ctl1-members"].inputs["stdin"]
    assert "nodes.5 = rabbit@ctl5" in five.commands["rabbitmq-ctl2-members"].inputs["stdin"]
    assert "cluster-corosync-reload" in changed and '"$size" = 5' in five.commands["galera-cluster-size"].create
    # The new nodes join one at a time after the running ones; quorum queues grow onto them.
    assert five.before("galera-ctl3-start", "galera-ctl4-start") and five.before("galera-ctl4-start", "galera-ctl5-start")
    assert five.before("rabbitmq-ctl4-start", "rabbitmq-ctl5-start")
    assert "rabbitmq-queues grow rabbit@ctl5 all" in five.commands["rabbitmq-ctl5-start"].create
    for unit_set in ("keystone", "memcached"):
        assert f"api-ctl1-{unit_set}" in changed
        chain = [f"api-ctl{i}-{unit_set}" for i in range(1, 6)]
        assert all(five.before(x, y) for x, y in zip(chain, chain[1:])), chain
    # ...each node's API answering HTTP before the next one restarts its own.
    assert 'probe "http://10.77.1.11:$port/"' in five.commands["api-ctl1-keystone"].create
    assert "for port in 5000; do" in five.commands["api-ctl1-keystone"].create
    assert "for port in" not in five.commands["api-ctl1-memcached"].create


def test_one_projects_setting_restarts_only_that_projects_units():
    """The issue's check: a heat option changes heat's fragment and restarts heat-api and
    heat-engine on every node, nothing of nova, neutron or keystone."""
    before = run_program(lab_stack())
    after = run_program(lab_stack(openstack={"settings": {"heat": {"DEFAULT": {"debug": "true"}}}}))
    a, b = _comparable(before), _comparable(after)
    changed = sorted(name for name in a if a[name] != b[name])
    assert changed == sorted(f"api-{n}-{what}" for n in ("ctl1", "ctl2", "ctl3") for what in (
        "etc-heat-heat-conf-d-100-ha-openstack-conf", "heat"))


def example_stack():
    data = copy.deepcopy(config_from_stack_file(ROOT / "stacks" / "Pulumi.example-aa.yaml"))
    for host in data["hosts"]:
        host["ssh"].pop("private_key_path")
        host["ssh"]["private_key"] = f"<secret:hosts.{host['name']}.ssh.private_key>"
    return validate_stack(real_secrets(data, []))


def test_example_stack_keeps_l3_and_metadata_agents_under_pacemaker():
    program = run_program(example_stack())
    group = unwrap_rpc_secret(program.commands["services-network-cib"].inputs["stdin"])
    assert '<group id="g_services_network">' in group
    assert 'type="neutron-l3-agent"' in group and 'type="neutron-metadata-agent"' in group
    assert group.index('type="neutron-l3-agent"') < group.index('type="neutron-metadata-agent"')
    ceilometer = unwrap_rpc_secret(program.commands["ceilometer-cib"].inputs["stdin"])
    assert '<group id="g_ceilometer">' in ceilometer and 'type="ceilometer-agent-central"' in ceilometer
    # memcached and keystone start with the node; every other service once its schema and
    # service user exist (placement's uwsgi app gave up on the database before the VIP existed).
    def units(*sets: str) -> str:
        return "".join(shlex.split(program.commands[f"api-controller1-{s}"].create)[-1] for s in sets)

    first, late = units("memcached", "keystone"), units("glance", "placement", "nova", "neutron", "cinder", "heat")
    assert "systemctl start memcached\n" in first and "systemctl start keystone\n" in first
    for unit in ("glance-api", "placement-api", "nova-api", "nova-api-metadata", "cinder-api", "neutron-api",
                 "heat-api", "nova-scheduler", "nova-conductor", "cinder-scheduler", "neutron-rpc-server",
                 "heat-engine", "neutron-linuxbridge-agent", "neutron-dhcp-agent"):
        assert f"systemctl start {unit}\n" in late and unit not in first, unit
    for schema in ("nova-schema", "neutron-schema", "service-users", "api-endpoints"):
        assert program.before(schema, "api-controller1-nova"), schema
    assert program.before("api-controller1-neutron", "api-ready")
    apis = first
    for unit in ("neutron-l3-agent", "neutron-metadata-agent", "ceilometer-agent-central"):
        assert unit not in apis and unit not in late
    # nova's three databases, the others one each, all through the VIP
    assert program.outputs["database_urls"].keys() == {
        "keystone", "glance", "placement", "cinder", "nova", "nova_api", "nova_cell0", "neutron", "heat"}
    # the L3 agent removes its routers' namespaces when it stops (group moved away)
    dropin = program.commands["services-network-controller1-etc-systemd-system-neutron-l3-agent-service-d-ha-openstack-conf"]
    assert "--agent-type=l3 --force" in unwrap_rpc_secret(dropin.inputs["stdin"]) or \
        "--agent-type=l3 --force" in dropin.create
    # and, started, takes the routers of the other L3 agents (ha-l3-takeover, executable)
    takeover = program.commands["services-network-controller1-usr-local-sbin-ha-l3-takeover"]
    assert "/v2.0/agents/" in unwrap_rpc_secret(takeover.inputs["stdin"]) and "0755" in takeover.create
    assert "ExecStartPost=-/usr/local/sbin/ha-l3-takeover" in unwrap_rpc_secret(dropin.inputs["stdin"])
    assert program.before("api-cib", "services-network-cib")
    assert program.before("api-ready", "services-network-cib")


def test_nova_maps_cell0_and_cell1_after_its_api_schema(lab):
    steps = shlex.split(lab.commands["nova-schema"].create)[-1]
    order = ["nova-manage api_db sync", "nova-manage cell_v2 map_cell0", "create_cell --name=cell1",
             "nova-manage db sync"]
    assert [steps.index(s) for s in order] == sorted(steps.index(s) for s in order)
    assert lab.before("api-cib", "nova-schema")


def _scripts(program: Program) -> list[tuple[str, str]]:
    out = []
    for name, cmd in program.commands.items():
        for key in ("create", "delete"):
            text = unwrap_rpc_secret(cmd.inputs.get(key))
            if text:
                out.append((f"{name}.{key}", shlex.split(text)[-1]))  # the script after `bash -c`
    return out


def test_every_script_parses_and_passes_shellcheck():
    program = run_program(example_stack())
    shrinking = run_program(lab_stack(controllers=5, leaving=["ctl4", "ctl5"]))
    scripts = _scripts(program) + [(w, s) for w, s in _scripts(shrinking) if w.startswith(("leaving-", "cluster-forget"))]
    assert len(scripts) > 100
    for where, script in scripts:
        done = subprocess.run(["bash", "-n", "-c", script], capture_output=True, text=True)
        assert done.returncode == 0, (where, done.stderr)
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    # SC2043: a loop over a one-package list; SC2034: the foundation's wait loops.
    for where, script in scripts:
        done = subprocess.run([shellcheck, "-s", "bash", "-S", "warning", "-e", "SC2043", "-e", "SC2034", "-"],
                              input=script, capture_output=True, text=True)
        assert done.returncode == 0, (where, done.stdout)


def test_the_same_stack_builds_the_same_program():
    """A second `pulumi up` with unchanged config must find nothing to change."""
    first = _comparable(run_program(lab_stack()))
    second = _comparable(run_program(lab_stack()))
    assert first == second


def test_a_neutron_setting_restarts_the_network_group_where_it_runs():
    """Pacemaker owns the L3 and metadata agents: `up` restarts their group (crm_resource
    --restart, once the config on the node differs from the stamp of the last run) when
    neutron's files change, and leaves the ceilometer group alone."""
    before = run_program(lab_stack())
    after = run_program(lab_stack(openstack={"settings": {"neutron": {"DEFAULT": {"debug": "true"}}}}))
    a, b = _comparable(before), _comparable(after)
    changed = {name for name in a if a[name] != b[name]}
    assert "g_services_network-restart" in changed and "g_ceilometer-restart" not in changed
    script = shlex.split(after.commands["g_services_network-restart"].create)[-1]
    assert "crm_resource --restart --resource g_services_network" in script
    assert "/etc/neutron/neutron.conf.d/100-ha-openstack.conf" in script
    assert after.before("services-network-cib", "g_services_network-restart")
