"""Output-typed inputs (ha_components.inputs, issue 18) under Pulumi's mocks: a stack whose hosts'
SSH endpoints and addresses and VIP address are Outputs of other resources registers what the
plain stack registers; an Output failing a check fails the deployment with the field-named
message; a plain value fails before any resource exists."""
from __future__ import annotations

import copy
from typing import Any, Callable, Iterator

import pulumi
import pytest
from pulumi.runtime.rpc import unwrap_rpc_secret

from ha_components import remote
from ha_components.dryrun import record_program
from ha_components.inputs import PLACEHOLDER_HOST_KEY, InNetwork, stack_with_inputs
from ha_components.models import StackConfigError, validate_stack
from ha_components.stackfile import config_from_stack_file
from ha_components.topologies import build

from .test_active_active_components import ROOT, real_secrets

LINKS = ["mgmt", "ring1"]

@pytest.fixture(autouse=True)
def fresh_runtime() -> Iterator[None]:
    """A program failing a check leaves its failed registrations and outputs in pulumi's global
    settings, bound to a closed loop; the next program would wait for them."""
    yield
    from pulumi.runtime.settings import SETTINGS, _get_rpc_manager

    _get_rpc_manager().clear()
    with SETTINGS.lock:
        SETTINGS.outputs.clear()
    remote.reset_connections()


def core_data() -> dict[str, Any]:
    """stacks/Pulumi.lab-aa.yaml with keystone and glance only, secrets filled, inline keys."""
    data = copy.deepcopy(config_from_stack_file(ROOT / "stacks" / "Pulumi.lab-aa.yaml"))
    for host in data["hosts"]:
        host["ssh"].pop("private_key_path")
        host["ssh"]["private_key"] = f"<secret:hosts.{host['name']}.ssh.private_key>"
    data["openstack"]["services"] = ["keystone", "glance-api"]
    return real_secrets(data, [])


def as_outputs(data: dict[str, Any], vip: str | None = None, **address: str) -> dict[str, Any]:
    """The same stack with every deferrable field an Output (`address`: ctlN_L -> another value)."""
    out = copy.deepcopy(data)
    for host in out["hosts"]:
        ssh = host["ssh"]
        for key in ("host", "port", "host_key", "private_key"):
            ssh[key] = pulumi.Output.from_input(ssh.get(key, 22))
        host["addresses"] = [InNetwork(pulumi.Output.from_input(address.get(f"{host['name']}_{i}", a)), LINKS[i])
                             for i, a in enumerate(host["addresses"])]
    out["vips"][0]["address"] = InNetwork(pulumi.Output.from_input(vip or out["vips"][0]["address"]), "mgmt")
    return out


def test_outputs_register_the_plain_stacks_commands_and_outputs() -> None:
    plain = record_program(lambda: build(validate_stack(core_data())))
    deferred = record_program(lambda: build(stack_with_inputs(as_outputs(core_data()))))
    before, after = dict(plain.commands), dict(deferred.commands)
    assert list(before) == list(after) and len(after) > 80
    # Nothing is sorted by address (the render would sort the stand-ins): the same program.
    assert {n for n in before if before[n] != after[n]} == set()
    assert not [n for n, c in after.items() if "10.77.1.254" in str(c) or "output-host" in str(c)]
    assert deferred.outputs == plain.outputs and deferred.secret_outputs == plain.secret_outputs
    conn = after["cluster-ctl2-packages"]["connection"]
    assert unwrap_rpc_secret(conn)["host"] == "10.77.1.12"
    assert unwrap_rpc_secret(conn)["hostKey"].startswith("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP4")


def _fails(data: Callable[[], dict[str, Any]]) -> str:
    """The error of a program building the stack `data()` makes (Outputs need the mocks' loop)."""
    with pytest.raises(StackConfigError) as err:
        record_program(lambda: build(stack_with_inputs(data())))
    return str(err.value)


@pytest.mark.parametrize("change, message", [
    ({"vip": "10.77.3.5"}, "vips[0].address: address 10.77.3.5 is outside every declared network"),
    ({"vip": "10.77.1.12"}, "vips[0].address: address 10.77.1.12 is host 'ctl2''s own"),
    ({"ctl3_0": "10.77.1.11"}, "hosts[2].addresses[0]: address 10.77.1.11 is already used by host 'ctl1'"),
    ({"ctl3_1": "10.77.1.99"}, "hosts[2].addresses[1]: address 10.77.1.99 is not in network 'ring1' (10.77.2.0/24)"),
    ({"ctl1_0": "not-an-address"}, "hosts[0].addresses[0]: Input is not a valid IPv4 address"),
])
def test_an_output_failing_a_check_fails_the_deployment_naming_the_field(change, message) -> None:
    assert message in _fails(lambda: as_outputs(core_data(), **change))


def test_an_output_host_key_is_checked_and_pinned() -> None:
    def data() -> dict[str, Any]:
        out = as_outputs(core_data())
        out["hosts"][1]["ssh"]["host_key"] = pulumi.Output.from_input("ssh-ed25519 AAAA")
        return out
    assert "hosts[1].ssh.host_key" in _fails(data)


def test_no_command_runs_before_the_checks_every_connection_waits_for_them() -> None:
    seen: list[str] = []

    class Watch(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
            seen.append(args.name)
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
            return {}

    import asyncio
    remote.reset_connections()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        pulumi.runtime.set_mocks(Watch(), project="p", stack="s", preview=False)
        build(stack_with_inputs(as_outputs(core_data(), vip="10.77.3.5")))
        with pytest.raises(StackConfigError):
            loop.run_until_complete(pulumi.runtime.stack.wait_for_rpcs())
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    assert not [n for n in seen if n in remote.RECORDED], "a command was registered after a failed check"


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["vips"][0].update(address="10.77.9.1"), "vips[0].address: address 10.77.9.1 is outside every declared network"),
    (lambda d: d["pacemaker"].update(nodes=pulumi.Output.from_input(["ctl1"])), "pacemaker.nodes: must be a plain value"),
    (lambda d: d["hosts"][0].update(addresses=pulumi.Output.from_input(["10.77.1.11"])), "hosts[0].addresses: must be a plain value"),
    (lambda d: d["hosts"][0].update(addresses=[pulumi.Output.from_input("10.77.1.11"), "10.77.2.11"]),
     "hosts[0].addresses[0]: an Output address needs the network it will lie in"),
    (lambda d: d["hosts"][0].update(addresses=[InNetwork(pulumi.Output.from_input("10.77.1.11"), "dmz"), "10.77.2.11"]),
     "hosts[0].addresses[0]: network 'dmz' is not declared"),
])
def test_plain_values_fail_before_any_resource_exists(edit, message) -> None:
    def data() -> dict[str, Any]:
        out = core_data()
        out["hosts"][1]["ssh"]["host"] = pulumi.Output.from_input("10.77.1.12")
        edit(out)
        return out
    assert message in _fails(data)
    assert not remote.RECORDED  # raised before the first component


def test_plain_stack_through_stack_with_inputs_is_validate_stack() -> None:
    remote.reset_connections()
    assert stack_with_inputs(core_data()) == validate_stack(core_data())
    assert PLACEHOLDER_HOST_KEY.startswith("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI")
