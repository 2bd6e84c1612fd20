"""Pre-flight: good stacks pass, bad ones fail with a message naming the field."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from ha_components.models import StackConfigError, validate_stack
from ha_components.stackfile import load_stack_file

from .helpers import AUTHKEY, ROOT, SHIPPED_STACKS, assert_problem, stack_data


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(StackConfigError) as err:
        validate_stack(data)
    return [str(p) for p in err.value.problems]


def edited(edit: Callable[[dict[str, Any]], None], name: str = "lab-ap") -> dict[str, Any]:
    data = stack_data(name)
    edit(data)
    return data


@pytest.mark.parametrize("stack_file", SHIPPED_STACKS, ids=lambda p: p.name)
def test_shipped_stacks_validate(stack_file: Path) -> None:
    stack = load_stack_file(stack_file)
    assert stack.hosts


def test_malformed_ip_names_the_field() -> None:
    assert_problem(edited(lambda d: d["hosts"][0].__setitem__("addresses", ["10.77.11.999"])),
                   "hosts[0].addresses[0]", "IPv4")


def test_malformed_cidr_names_the_field() -> None:
    assert_problem(edited(lambda d: d["networks"][1].__setitem__("cidr", "10.77.12.0/33")),
                   "networks[1].cidr")


@pytest.mark.parametrize("cidr, words", [("10.77.11.0/24", "is the same network as networks[0]"),
                                         ("10.77.0.0/16", "overlaps networks[0]"),
                                         ("10.77.11.128/25", "overlaps networks[0]")])
def test_overlapping_networks_name_the_later_cidr(cidr: str, words: str) -> None:
    assert_problem(edited(lambda d: d["networks"][1].__setitem__("cidr", cidr)), "networks[1].cidr", words)


def test_duplicate_host_name() -> None:
    assert_problem(edited(lambda d: d["hosts"][2].__setitem__("name", "ctl1")),
                   "hosts[2].name", "duplicate host name 'ctl1'")


def test_duplicate_host_address() -> None:
    assert_problem(edited(lambda d: d["hosts"][1]["addresses"].__setitem__(0, "10.77.11.11")),
                   "hosts[1].addresses[0]", "already used by host 'ctl1'")


def test_vip_outside_every_subnet() -> None:
    assert_problem(edited(lambda d: d["vips"][0].__setitem__("address", "10.99.0.5")),
                   "vips[0].address", "outside every declared network")


def test_vip_equal_to_a_node_address() -> None:
    assert_problem(edited(lambda d: d["vips"][2].__setitem__("address", "10.77.11.12")),
                   "vips[2].address", "host 'ctl2'")


def test_undefined_host_in_pacemaker_nodes() -> None:
    assert_problem(edited(lambda d: d["pacemaker"]["nodes"].__setitem__(1, "ctl9")),
                   "pacemaker.nodes[1]", "'ctl9' is not defined")


def test_undefined_fencing_target() -> None:
    assert_problem(edited(lambda d: d["pacemaker"]["fencing"]["devices"][0]["targets"].append("ctl7")),
                   "pacemaker.fencing.devices[0].targets[3]", "'ctl7'")


def test_two_nodes_without_fencing_is_rejected() -> None:
    def two_nodes(d: dict[str, Any]) -> None:
        d["pacemaker"]["nodes"] = ["ctl1", "ctl2"]
        d["pacemaker"]["fencing"] = {}
    assert_problem(edited(two_nodes), "pacemaker.fencing", "disabled_reason")


def test_two_nodes_with_documented_opt_out_is_accepted() -> None:
    def opt_out(d: dict[str, Any]) -> None:
        d["pacemaker"]["nodes"] = ["ctl1", "ctl2"]
        d["pacemaker"]["fencing"] = {"disabled_reason": "lab without power control"}
    assert validate_stack(edited(opt_out)).pacemaker.fencing.disabled_reason


def test_node_without_a_fencing_device() -> None:
    assert_problem(edited(lambda d: d["pacemaker"]["fencing"]["devices"][0].__setitem__(
        "targets", ["ctl1", "ctl2"])), "pacemaker.fencing.devices", "node 'ctl3'")


def test_no_quorum_ignore_needs_two_nodes() -> None:
    assert_problem(edited(lambda d: d["pacemaker"].__setitem__("no_quorum_policy", "ignore")),
                   "pacemaker.no_quorum_policy", "2-node")


def test_keystone_processes_only_in_active_active() -> None:
    assert_problem(edited(lambda d: d["openstack"].__setitem__("keystone_processes", 2)),
                   "openstack.keystone_processes", "active-active")


def test_drbd_needs_exactly_two_nodes() -> None:
    assert_problem(edited(lambda d: d["drbd"][0].__setitem__("nodes", ["ctl1", "ctl2", "ctl3"])),
                   "drbd[0].nodes", "at most 2")


def test_drbd_duplicate_minor_and_port() -> None:
    def dup(d: dict[str, Any]) -> None:
        d["drbd"][1]["minor"] = d["drbd"][0]["minor"]
        d["drbd"][1]["port"] = d["drbd"][0]["port"]
    lines = problems_of(edited(dup))
    assert any(line.startswith("drbd[1].minor: minor 0") for line in lines), lines
    assert any(line.startswith("drbd[1].port: port 7700") for line in lines), lines


def test_drbd_on_a_host_outside_the_cluster() -> None:
    assert_problem(edited(lambda d: d["drbd"][0]["nodes"].__setitem__(1, "db9")),
                   "drbd[0].nodes[1]", "pacemaker node 'db9'")


def test_drbd_node_that_is_no_host_is_a_problem_not_a_crash() -> None:
    # Found by the schema cross-check (tests/test_schema.py): validate raised StopIteration.
    def edit(d: dict[str, Any]) -> None:
        d["pacemaker"]["nodes"][0] = d["drbd"][0]["nodes"][0] = "node9"

    assert_problem(edited(edit), "pacemaker.nodes[0]", "'node9' is not defined")


def test_unknown_key_is_rejected() -> None:
    assert_problem(edited(lambda d: d["pacemaker"].__setitem__("stonith", "yes")),
                   "pacemaker.stonith", "Extra inputs are not permitted")


def test_unknown_top_level_key_is_rejected() -> None:
    assert_problem(edited(lambda d: d.__setitem__("pacemakr", {})), "pacemakr")


def test_missing_secret_is_rejected() -> None:
    assert_problem(edited(lambda d: d["pacemaker"].pop("authkey")), "pacemaker.authkey", "Field required")


def test_missing_service_password_is_rejected() -> None:
    assert_problem(edited(lambda d: d["openstack"].__setitem__("service_passwords", {})),
                   "openstack.service_passwords.keystone", "--secret")


def test_reference_to_undefined_vip_and_volume() -> None:
    def bad(d: dict[str, Any]) -> None:
        d["database"]["vip"] = "db"
        d["messaging"]["volume"] = "mq"
    lines = problems_of(edited(bad))
    assert any(line.startswith("database.vip: VIP 'db'") for line in lines), lines
    assert any(line.startswith("messaging.volume: DRBD volume 'mq'") for line in lines), lines


def test_authkey_must_be_base64_of_a_knet_key() -> None:
    assert_problem(edited(lambda d: d["pacemaker"].__setitem__("authkey", "c2hvcnQ=")),
                   "pacemaker.authkey", "128 to 512")
    ok = edited(lambda d: d["pacemaker"].__setitem__("authkey", AUTHKEY))
    assert validate_stack(ok).pacemaker.authkey.get_secret_value() == AUTHKEY


def write_stack(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.lab-ap.yaml").read_text())
    edit(doc["config"])
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_plain_text_secret_in_stack_file_is_rejected(tmp_path: Path) -> None:
    path = write_stack(tmp_path, lambda c: c["ha-openstack:pacemaker"].__setitem__("authkey", AUTHKEY))
    with pytest.raises(StackConfigError) as err:
        load_stack_file(path)
    assert str(err.value).startswith("pacemaker.authkey: secret stored in plain text")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    # No Pulumi CLI on PATH: validate must not need it.
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "ha_components", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_validate_command_exit_codes_and_one_line_per_problem(tmp_path: Path) -> None:
    good = _cli("validate", "stacks/Pulumi.lab-ap.yaml")
    assert good.returncode == 0, good.stderr
    assert "ok (active-passive, 3 hosts)" in good.stdout

    def two_bad(c: dict[str, Any]) -> None:
        c["ha-openstack:vips"][0]["address"] = "10.77.11.300"
        c["ha-openstack:pacemaker"]["nodes"][2] = "nowhere"
    bad = _cli("validate", str(write_stack(tmp_path, two_bad)))
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert any(line.endswith("vips[0].address: Input is not a valid IPv4 address") for line in lines), lines
    assert len(lines) == 1  # field errors stop before the cross checks: one problem, one line
    fixed_vip = _cli("validate", str(write_stack(tmp_path, lambda c: c["ha-openstack:pacemaker"]["nodes"]
                                                   .__setitem__(2, "nowhere"))))
    assert fixed_vip.returncode == 1
    assert "pacemaker.nodes[2]: host 'nowhere' is not defined" in fixed_vip.stderr
