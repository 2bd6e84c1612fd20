"""examples/compose-py on the lab (issue 18): a program whose machines are resources of its own
(`command:local:Command`s reading each lab machine's addresses and host key) feeds their
Outputs into the keystone + glance core. On a freshly reset lab one `pulumi up` converges
(it ends with a keystone token through the VIP: `keystone-ready`), a second changes nothing,
and the outputs are the stack-file program's for the same stack.

Run under the lab lock: flock /run/ha-openstack-lab.lock python3 -m pytest -m lab tests/lab/test_compose_lab.py
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from ha_components.dryrun import record_program
from ha_components.stackfile import check_offline, config_from_stack_file
from ha_components.topologies import build

from .conftest import REPO, EngineStack, lab, on, output, require_root

pytestmark = pytest.mark.lab

EXAMPLE = REPO / "examples" / "compose-py"
PLAIN_OUTPUTS = ("cluster_name", "api_vip", "keystone_url", "haproxy_stats", "galera_cluster_size",
                 "rabbitmq_nodes", "memcached_servers", "oslo_messaging_settings")


def stack_file_outputs() -> dict[str, object]:
    """What the stack-file program exports for the same stack (under mocks: the non-secret outputs)."""
    data = config_from_stack_file(REPO / "stacks" / "Pulumi.lab-aa.yaml")
    data["openstack"]["services"] = ["keystone", "glance-api"]
    outputs = record_program(lambda: build(check_offline(data))).outputs
    return {k: outputs[k] for k in PLAIN_OUTPUTS}


def test_composing_program_converges_in_one_up_and_a_second_changes_nothing(lab_up, tmp_path: Path) -> None:
    require_root()
    lab("reset", timeout=1800)
    # PYTHONPATH: the engine runs a copy of the example; the components are this checkout's.
    stack = EngineStack(EXAMPLE, "lab", tmp_path / "compose", env={"PYTHONPATH": str(REPO)})
    try:
        start = time.monotonic()
        first = stack.up(EXAMPLE / "Pulumi.lab.yaml")
        first_s = time.monotonic() - start
        assert set(first.summary) == {"create"}, first.summary
        assert {k: output(first, k) for k in PLAIN_OUTPUTS} == stack_file_outputs()
        assert "10.77.1.11:" in output(first, "transport_url")  # the machines' addresses, resolved

        second = stack.up(EXAMPLE / "Pulumi.lab.yaml")
        assert set(second.summary) == {"same"}, second.summary
        assert second.summary["same"] == first.summary["create"]
        print(f"\ncompose-py on the lab: first up {first.summary['create']} created in {first_s:.0f} s "
              f"(engine {first.seconds:.0f} s); second up {second.summary} in {second.seconds:.0f} s")
    finally:
        lab("reset", timeout=1800)  # a clean base for the next module
