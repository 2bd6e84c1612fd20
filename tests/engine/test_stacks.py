"""The real engine previews every shipped stack: components, their commands, the creates.

The expected commands come from the same program under Pulumi's mocks, so the
engine and the unit layer are held to one resource graph.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from engine_helpers import REPO
from ha_components.dryrun import record
from ha_components.stackfile import load_stack_file
from ha_components.types import Token

pytestmark = pytest.mark.engine

STACK_FILES = sorted((REPO / "stacks").glob("Pulumi.*.yaml"))
COMPONENT_TOKENS = {t.value for t in Token if t is not Token.REMOTE_COMMAND}


def stack_name(path: Path) -> str:
    return path.name[len("Pulumi."):-len(".yaml")]


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=stack_name)
def test_stack_preview_plans_the_components_and_their_commands(engine_preview, stack_file: Path) -> None:
    name = stack_name(stack_file)
    result = engine_preview(REPO, name, stack_file)
    expected_commands = {cmd for cmd, _ in record(load_stack_file(stack_file))}

    components = {s.urn: s for s in result.creates() if s.type in COMPONENT_TOKENS}
    commands = result.creates(Token.REMOTE_COMMAND)
    assert {s.name for s in commands} == expected_commands
    for command in commands:
        assert command.parent in components, f"{command.name} is not under a component"
    assert result.change_summary == {"create": len(commands) + len(components) + 1}  # + the stack

    topology = load_stack_file(stack_file).topology
    kinds = Counter(s.type for s in components.values())
    assert kinds[Token.PACEMAKER_CLUSTER] == 1
    if topology == "active-passive":
        assert kinds[Token.DRBD_VOLUME] == 2
        assert kinds[Token.OPENSTACK_SERVICE_VIP] >= 3  # mysql, rabbitmq, api (+ network agents)
    else:
        assert kinds[Token.GALERA_CLUSTER] == 1
        assert kinds[Token.RABBIT_HA_CLUSTER] == 1
        assert kinds[Token.HAPROXY_FRONTEND] == 1


def test_lab_ap_preview_orders_drbd_before_its_service_group(engine_preview) -> None:
    result = engine_preview(REPO, "lab-ap", REPO / "stacks" / "Pulumi.lab-ap.yaml")
    init = result.by_name("drbd-mysql-initialize")
    cib = result.by_name("drbd-mysql-cib")
    group = result.by_name("mysql-cib")
    assert init.urn in cib.dependencies
    assert cib.urn in group.dependencies
    assert result.by_name("cluster-ready").urn in group.dependencies
