"""Components under Pulumi's mocks: graph, parents, ordering, triggers and secrets."""
from __future__ import annotations

import shlex
from typing import Any, Callable

import pytest

from ha_components import remote
from ha_components.dryrun import record_program
from ha_components.models import StackConfig
from ha_components.topologies import build

from .helpers import secret_values, waits_for

Commands = dict[str, dict[str, Any]]


def run(stack: StackConfig) -> tuple[Commands, dict[str, bool]]:
    recording = record_program(lambda: build(stack))
    return dict(recording.commands), recording.secret_outputs


@pytest.fixture
def lab_ap(runtime_stack: Callable[..., StackConfig]) -> StackConfig:
    return runtime_stack("lab-ap")


def test_every_command_has_its_component_as_parent(lab_ap: StackConfig) -> None:
    commands, _ = run(lab_ap)
    parents = {remote.RECORDED[name].parent for name in commands}
    assert parents == {"cluster", "drbd-mysql", "drbd-rabbitmq", "mysql", "rabbitmq", "api"}
    assert remote.RECORDED["cluster-ctl1-corosync-conf"].parent == "cluster"
    assert remote.RECORDED["drbd-mysql-initialize"].parent == "drbd-mysql"
    assert remote.RECORDED["mysql-cib"].parent == "mysql"


def test_cluster_is_up_before_any_cib_push(lab_ap: StackConfig) -> None:
    commands, _ = run(lab_ap)
    cib_pushes = [n for n in commands if n.endswith("-cib")]
    assert len(cib_pushes) == 6
    for name in cib_pushes:
        assert "cluster-ready" in waits_for(name), name
        assert {f"cluster-{n}-start" for n in ("ctl1", "ctl2", "ctl3")} <= waits_for(name)
        assert remote.RECORDED[name].host == "ctl1"  # one node applies every change
    assert "cluster-cib" in waits_for("mysql-cib")  # fencing and properties first


def test_drbd_promoted_before_mkfs_before_pacemaker_resources(lab_ap: StackConfig) -> None:
    commands, _ = run(lab_ap)
    init = "drbd-mysql-initialize"
    assert {"drbd-mysql-ctl1-up", "drbd-mysql-ctl2-up", "drbd-mysql-ctl1-create-md"} <= waits_for(init)
    script = commands[init]["create"]
    assert script.index("primary --force") < script.index("mkfs -t xfs") < script.index("secondary")
    assert "mysql_install_db" in script
    assert init in waits_for("drbd-mysql-cib")
    assert "drbd-mysql-cib" in waits_for("mysql-cib")
    # Only one node promotes for the first time.
    assert sorted(n for n in commands if "initialize" in n) == ["drbd-mysql-initialize", "drbd-rabbitmq-initialize"]


def test_vip_and_service_are_grouped_and_follow_the_promoted_volume(lab_ap: StackConfig) -> None:
    commands, _ = run(lab_ap)
    xml = commands["mysql-cib"]["stdin"]
    assert xml.index('<group id="g_mysql">') < xml.index('id="p_ip_mysql"') < xml.index('id="p_fs_mysql"') \
        < xml.index('id="p_mysql"') < xml.index("</group>")
    assert 'with-rsc="ms_drbd_mysql" score="INFINITY" with-rsc-role="Promoted"' in xml
    assert 'first="ms_drbd_mysql" first-action="promote" then="g_mysql"' in xml


def test_rabbitmq_cookie_is_secret_and_on_both_drbd_nodes_before_first_promotion(lab_ap: StackConfig) -> None:
    commands, _ = run(lab_ap)
    cookies = [n for n in commands if remote.RECORDED[n].path == "/var/lib/rabbitmq/.erlang.cookie"]
    assert sorted(remote.RECORDED[n].host for n in cookies) == ["ctl1", "ctl2"]
    for name in cookies:
        assert "stdin" in commands[name]["secret_inputs"]
        assert "chmod 0400" in commands[name]["create"] and "chown rabbitmq:rabbitmq" in commands[name]["create"]
        assert name in waits_for("drbd-rabbitmq-initialize")


def test_no_secret_in_any_command_line(lab_ap: StackConfig) -> None:
    commands, _ = run(lab_ap)
    secrets = secret_values(lab_ap)
    assert len(secrets) >= 6
    for name, inputs in commands.items():
        for field in ("create", "delete", "update"):
            text = inputs.get(field) or ""
            leaked = [s for s in secrets if s in text]
            assert not leaked, f"{name}.{field} carries a secret"
        stdin = inputs.get("stdin") or ""
        if any(s in stdin for s in secrets):
            assert "stdin" in inputs["secret_inputs"], f"{name} sends a secret on a non-secret stdin"
            # upstream pulumi-command logs a command's output into the engine's output
            # unless told not to: a command reading secrets may print them (keystone's key export does)
            assert inputs.get("logging") == "none", f"{name} reads a secret and logs its output"


def test_outputs_holding_passwords_are_secret(lab_ap: StackConfig) -> None:
    _, secret_outputs = run(lab_ap)
    assert secret_outputs["transport_url"] and secret_outputs["database_urls"]
    assert not secret_outputs["api_vip"] and not secret_outputs["keystone_url"]


def changed_commands(make: Callable[..., StackConfig], edit: Callable[[dict[str, Any]], None],
                     base: Callable[[dict[str, Any]], None] = lambda d: None) -> set[str]:
    before, _ = run(make("lab-ap", base))
    after_edit, _ = run(make("lab-ap", lambda d: (base(d), edit(d))))
    assert before.keys() == after_edit.keys()
    return {n for n in before if before[n] != after_edit[n]}


def with_glance(data: dict[str, Any]) -> None:
    data["openstack"]["services"] = ["keystone", "glance-api"]
    data["openstack"]["service_passwords"]["glance"] = "S3cret-glance-x9"


def test_changing_the_api_vip_changes_only_what_reads_it(runtime_stack: Callable[..., StackConfig]) -> None:
    changed = changed_commands(runtime_stack, lambda d: d["vips"][2].__setitem__("address", "10.77.11.104"),
                               base=with_glance)
    nodes = ("ctl1", "ctl2", "ctl3")
    assert changed == {
        "api-cib", "api-endpoints", "api-admin-openrc",
        "api-ready",  # polls glance's URL on the VIP
        # glance binds to the VIP and authenticates against keystone on it; keystone's own
        # fragment holds only its database URL, so it stays as it is.
        *{f"api-{n}-etc-glance-glance-conf-d-100-ha-openstack-conf" for n in nodes},
        *{f"keystone-{n}-bootstrap" for n in nodes},
    }


def test_active_passive_glance_schema_and_service_user_after_keystone(runtime_stack: Callable[..., StackConfig]) -> None:
    commands, _ = run(runtime_stack("lab-ap", with_glance))
    assert "runuser -u glance -- sh -c 'glance-manage db_sync'" in shlex.split(commands["glance-schema"]["create"])[-1]
    assert "api-cib" in waits_for("glance-schema")
    assert {f"keystone-{n}-bootstrap" for n in ("ctl1", "ctl2", "ctl3")} <= waits_for("service-users")
    assert {"glance-schema", "service-users", "api-endpoints"} <= waits_for("api-ready")


def test_active_passive_controllers_share_the_first_ones_keystone_keys(lab_ap: StackConfig) -> None:
    """Keystone moves with the API VIP: tokens and credentials must outlive the node that
    signed them, so every node gets ctl1's keys before the admin user exists."""
    commands, _ = run(lab_ap)
    export = commands["keystone-keys-export"]
    assert remote.RECORDED["keystone-keys-export"].host == "ctl1" and "tar -C /etc/keystone" in export["create"]
    assert "api-cib" in waits_for("keystone-keys-export")
    for node in ("ctl2", "ctl3"):
        importer = f"keystone-{node}-keys-import"
        assert remote.RECORDED[importer].host == node and "stdin" in commands[importer]["secret_inputs"]
        assert "keystone-keys-export" in waits_for(importer)
        for bootstrap in ("ctl1", "ctl2", "ctl3"):
            assert importer in waits_for(f"keystone-{bootstrap}-bootstrap")


def test_changing_corosync_settings_reloads_without_restart(runtime_stack: Callable[..., StackConfig]) -> None:
    changed = changed_commands(runtime_stack, lambda d: d["pacemaker"].__setitem__("crypto_hash", "sha512"))
    assert changed == {*{f"cluster-{n}-corosync-conf" for n in ("ctl1", "ctl2", "ctl3")}, "cluster-corosync-reload"}
    before, _ = run(runtime_stack("lab-ap"))
    assert before["cluster-corosync-reload"]["triggers"]  # a content hash forces the reload


def test_a_property_change_touches_only_the_cluster_cib(runtime_stack: Callable[..., StackConfig]) -> None:
    changed = changed_commands(runtime_stack, lambda d: d["pacemaker"].__setitem__(
        "properties", {"cluster-recheck-interval": "3min"}))
    assert changed == {"cluster-cib"}


def test_one_connection_object_per_host(lab_ap: StackConfig) -> None:
    commands, _ = run(lab_ap)
    by_host: dict[str, set[str]] = {}
    for name, inputs in commands.items():
        conn = inputs["connection"]
        by_host.setdefault(remote.RECORDED[name].host, set()).add(repr(sorted(conn.items())))
    assert all(len(conns) == 1 for conns in by_host.values())


def test_every_script_is_strict_bash(lab_ap: StackConfig) -> None:
    commands, _ = run(lab_ap)
    for name, inputs in commands.items():
        assert inputs["create"].startswith("bash -c 'set -euo pipefail\n"), name
