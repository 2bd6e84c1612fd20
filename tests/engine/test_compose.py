"""A program that composes ha-openstack (examples/compose-py, issue 18) through the real engine:
its machines are `command:local:Command`s whose output (addresses, host key) feeds the
components as Outputs. `pulumi preview` must show the whole graph before any machine exists:
the same remote commands as the stack-file program plans for the lab's keystone + glance core,
each waiting for values the preview does not know yet, and no stand-in value anywhere.
"""
from __future__ import annotations

import re

import pytest

from engine_helpers import REPO
from ha_components.dryrun import record
from ha_components.stackfile import check_offline, config_from_stack_file
from ha_components.types import Token

pytestmark = pytest.mark.engine

EXAMPLE = REPO / "examples" / "compose-py"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's marker of a value known only at `up`


def core_commands() -> set[str]:
    data = config_from_stack_file(REPO / "stacks" / "Pulumi.lab-aa.yaml")
    data["openstack"]["services"] = ["keystone", "glance-api"]
    return {name for name, _ in record(check_offline(data))}


def test_composing_program_previews_the_whole_graph_before_the_machines_exist(engine_preview) -> None:
    # PYTHONPATH: the engine runs a copy of the example; the components are this checkout's.
    result = engine_preview(EXAMPLE, "lab", EXAMPLE / "Pulumi.lab.yaml", env={"PYTHONPATH": str(REPO)})
    assert "error" not in result.stderr.lower(), result.stderr

    machines = result.creates("command:local:Command")
    assert sorted(m.name for m in machines) == ["machine-ctl1", "machine-ctl2", "machine-ctl3"]
    commands = result.creates(Token.REMOTE_COMMAND)
    assert {c.name for c in commands} == core_commands()
    # What the machines report is unknown at preview: no host address in any command; the files
    # that hold one wait for it (the connections too, shown as secrets: the key is one).
    assert not re.search(r"10\.77\.[12]\.1[123]\b", str([c.inputs for c in commands]))
    assert result.by_name("galera-ctl1-health-service").inputs["stdin"] == UNKNOWN
    waiting = [c.name for c in commands if UNKNOWN in (c.inputs.get("create"), c.inputs.get("stdin"))]
    assert len(waiting) > 20
    components = [s for s in result.creates() if s.type.startswith("ha-openstack:")]
    assert result.change_summary == {"create": len(commands) + len(machines) + len(components) + 1}
    # The stand-ins (inputs.py: the top free address of each network, dummy SSH hosts) never
    # reach the engine.
    assert not re.search(r"10\.77\.[12]\.25[34]\b|output-host", result.engine_output)
    print(f"compose-py preview: {len(result.creates())} resources ({len(commands)} remote commands, "
          f"{len(waiting)} of them with unknown text, {len(machines)} machines, {len(components)} components), {result.seconds:.1f} s")
