"""`galera-recover`: the choice of the bootstrap node after a full shutdown, and its steps."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ha_components.galera_recover import Probe, RecoveryError, parse_probe, plan_recovery, recover
from ha_components.render import static_file
from ha_components.stackfile import load_stack_file

ROOT = Path(__file__).resolve().parent.parent
UUID = "111fc28b-1b05-11e1-0800-e00ec5a7c930"


def stopped(node: str, seqno: int, safe: bool = False, uuid: str = UUID) -> Probe:
    return Probe(node, False, False, uuid, seqno, safe)


def test_highest_seqno_bootstraps_and_the_others_join_in_order():
    plan = plan_recovery([stopped("ctl1", 10), stopped("ctl2", 12), stopped("ctl3", 11)])
    assert plan == [("ctl2", "bootstrap"), ("ctl1", "join"), ("ctl3", "join")]


def test_a_tie_prefers_the_node_marked_safe_to_bootstrap():
    plan = plan_recovery([stopped("ctl1", 12), stopped("ctl2", 12, safe=True), stopped("ctl3", 3)])
    assert plan[0] == ("ctl2", "bootstrap")


def test_a_running_primary_means_no_bootstrap():
    running = Probe("ctl1", True, True, UUID, 40, False)
    plan = plan_recovery([running, stopped("ctl2", 39), stopped("ctl3", 38)])
    assert plan == [("ctl1", "running"), ("ctl2", "join"), ("ctl3", "join")]


def test_different_cluster_uuids_are_refused():
    with pytest.raises(RecoveryError, match="different clusters"):
        plan_recovery([stopped("ctl1", 5), stopped("ctl2", 6, uuid="222fc28b-1b05-11e1-0800-e00ec5a7c930")])


def test_unknown_positions_need_an_explicit_choice():
    probes = [stopped("ctl1", -1), stopped("ctl2", -1)]
    with pytest.raises(RecoveryError, match="--bootstrap"):
        plan_recovery(probes)
    assert plan_recovery(probes, bootstrap="ctl2")[0] == ("ctl2", "bootstrap")


def test_one_unknown_position_is_not_outvoted_by_the_known_ones():
    # ctl1 may have committed after ctl2 and ctl3 stopped: bootstrapping ctl2 would lose that.
    with pytest.raises(RecoveryError, match="ctl1: last committed seqno unknown"):
        plan_recovery([stopped("ctl1", -1), stopped("ctl2", 12), stopped("ctl3", 11)])


def test_probe_lines_are_parsed_strictly():
    probe = parse_probe("ctl1", f"state=stopped primary=no uuid={UUID} seqno=1234 safe_to_bootstrap=1")
    assert probe == Probe("ctl1", False, False, UUID, 1234, True)
    with pytest.raises(RecoveryError, match="unexpected probe output"):
        parse_probe("ctl1", "mysql: command not found")


def test_recover_uses_the_stack_file_and_only_acts_with_yes():
    stack = load_stack_file(ROOT / "stacks" / "Pulumi.lab-aa.yaml")
    seqnos = {"ctl1": 7, "ctl2": 9, "ctl3": 8}
    calls: list[tuple[str, str]] = []

    def run(host, command):  # type: ignore[no-untyped-def]
        calls.append((host.ssh.host, command))
        if command.endswith(" probe"):
            return f"state=stopped primary=no uuid={UUID} seqno={seqnos[host.name]} safe_to_bootstrap=0\n"
        return "Synced, cluster size 3\n"

    lines: list[str] = []
    recover(stack, apply=False, run=run, out=lines.append)
    assert all(cmd.endswith(" probe") for _, cmd in calls)
    assert "plan: bootstrap ctl2, join ctl1, join ctl3" in lines
    calls.clear()
    recover(stack, apply=True, run=run, out=lines.append)
    actions = [(host, cmd.split()[1]) for host, cmd in calls if not cmd.endswith(" probe")]
    assert actions == [("10.77.1.12", "bootstrap"), ("10.77.1.11", "join"), ("10.77.1.13", "join")]


def test_node_script_is_valid_bash_and_refuses_unknown_actions(tmp_path):
    script = tmp_path / "ha-galera-recover"
    script.write_text(static_file("ha-galera-recover"))
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    done = subprocess.run(["bash", str(script), "explode"], capture_output=True, text=True)
    assert done.returncode == 2 and "usage" in done.stderr
