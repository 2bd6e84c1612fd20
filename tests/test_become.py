"""Non-root operators: `hosts[].ssh.user` + `become: sudo` (validation, the command text the
provider runs under Pulumi's mocks, our own ssh)."""
from __future__ import annotations

import shlex
from typing import Any, Callable

import pytest

from ha_components import remote
from ha_components.dryrun import record_program
from ha_components.models import StackConfig, validate_stack
from ha_components.ssh import SUDO, ssh_argv
from ha_components.stackfile import load_stack_file
from ha_components.topologies import build

from .helpers import STACKS, secret_values, stack_data
from .test_active_active_components import lab_stack
from .test_config import assert_problem, edited


def as_deploy(data: dict[str, Any]) -> None:
    for host in data["hosts"]:
        host["ssh"].update(user="deploy", become="sudo")


def test_a_sudo_user_validates() -> None:
    stack = validate_stack(edited(as_deploy, "lab-aa"))
    assert {(h.ssh.user, h.ssh.become) for h in stack.hosts} == {("deploy", "sudo")}


def test_root_with_become_is_rejected_naming_become() -> None:
    assert_problem(edited(lambda d: d["hosts"][2]["ssh"].__setitem__("become", "sudo"), "lab-aa"),
                   "hosts[2].ssh.become", "root already")


def test_a_user_without_become_is_rejected_naming_become() -> None:
    assert_problem(edited(lambda d: d["hosts"][1]["ssh"].__setitem__("user", "deploy"), "lab-aa"),
                   "hosts[1].ssh.become", "'deploy' is not root", "become: sudo")


@pytest.mark.parametrize("value", ["su", "doas", "SUDO", "sudo -u admin", True])
def test_become_is_only_sudo(value: object) -> None:
    def edit(d: dict[str, Any]) -> None:
        as_deploy(d)
        d["hosts"][0]["ssh"]["become"] = value
    assert_problem(edited(edit, "lab-aa"), "hosts[0].ssh.become", "sudo")


def _commands(stack: StackConfig) -> dict[str, dict[str, Any]]:
    return dict(record_program(lambda: build(stack)).commands)


def stack_of(name: str, runtime_stack: Callable[..., StackConfig], deploy: bool = True) -> StackConfig:
    """A shipped stack with runtime secrets, every host reached as root or as `deploy` + sudo."""
    if name == "lab-ap":
        return runtime_stack(name, as_deploy if deploy else None)
    data = {"hosts": stack_data(name)["hosts"]}  # lab-aa: secrets of the shapes its models demand
    for host in data["hosts"]:
        host["ssh"].pop("private_key_path")
        host["ssh"]["private_key"] = f"<secret:hosts.{host['name']}.ssh.private_key>"
    if deploy:
        as_deploy(data)
    return lab_stack(hosts=data["hosts"])


@pytest.mark.parametrize("name", ["lab-aa", "lab-ap"])
def test_every_create_and_delete_runs_strict_bash_under_non_interactive_sudo(
        runtime_stack: Callable[..., StackConfig], name: str) -> None:
    stack = stack_of(name, runtime_stack)
    commands = _commands(stack)
    assert commands
    deletes = 0
    for cmd, inputs in commands.items():
        assert inputs["connection"]["user"] == "deploy", cmd
        for key in ("create", "delete"):
            line = inputs.get(key)
            if line is None:
                continue
            deletes += key == "delete"
            argv = shlex.split(line)
            # sudo -n -H -- bash -c '<strict script>': one word for the script, sudo's options
            # never reach the script, and nothing else is on the command line.
            assert argv[:4] == ["sudo", "-n", "-H", "--"] and argv[4:6] == ["bash", "-c"], (cmd, key)
            assert len(argv) == 7 and argv[6].startswith("set -euo pipefail\n"), (cmd, key)
    assert deletes


def test_sudo_changes_only_the_wrapper_and_secrets_stay_on_stdin(runtime_stack: Callable[..., StackConfig]) -> None:
    root = _commands(stack_of("lab-aa", runtime_stack, deploy=False))
    stack = stack_of("lab-aa", runtime_stack)
    deploy = _commands(stack)
    assert root.keys() == deploy.keys()
    for cmd, inputs in deploy.items():
        assert inputs["create"] == f"{SUDO} {root[cmd]['create']}", cmd
        assert inputs.get("stdin") == root[cmd].get("stdin"), cmd
        assert ("stdin" in inputs["secret_inputs"]) == ("stdin" in root[cmd]["secret_inputs"]), cmd
    secrets = secret_values(stack)
    lines = "\n".join(i["create"] + (i.get("delete") or "") for i in deploy.values())
    assert secrets and not [s for s in secrets if s in lines]
    with_stdin = [c for c, i in deploy.items() if any(s in str(i.get("stdin")) for s in secrets)]
    assert with_stdin, "the secrets reach the hosts on stdin"
    assert all("stdin" in deploy[c]["secret_inputs"] for c in with_stdin)


def test_one_connection_per_host_also_for_a_sudo_user(runtime_stack: Callable[..., StackConfig]) -> None:
    by_host: dict[str, set[str]] = {}
    for name, inputs in _commands(stack_of("lab-aa", runtime_stack)).items():
        by_host.setdefault(remote.RECORDED[name].host, set()).add(repr(sorted(inputs["connection"].items())))
    assert by_host and all(len(conns) == 1 for conns in by_host.values())


def test_our_ssh_tools_run_their_command_through_sudo() -> None:
    stack = load_stack_file(STACKS / "Pulumi.lab-aa.yaml")
    root_host = stack.hosts[0]
    deploy_host = root_host.model_copy(update={"ssh": root_host.ssh.model_copy(
        update={"user": "deploy", "become": "sudo"})})
    assert ssh_argv(root_host, [], "/usr/local/sbin/ha-galera-recover probe")[-2:] == [
        "root@10.77.1.11", "/usr/local/sbin/ha-galera-recover probe"]
    assert ssh_argv(deploy_host, [], "/usr/local/sbin/ha-galera-recover probe")[-2:] == [
        "deploy@10.77.1.11", "sudo -n -H -- /usr/local/sbin/ha-galera-recover probe"]
