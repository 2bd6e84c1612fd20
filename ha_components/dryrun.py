"""`render`: run a topology in Pulumi's in-process mock monitor and write what it would push.

Nothing is contacted: the mocks answer every resource registration locally. The
stack comes from the offline loader, so secrets are placeholders in the output.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable

import pulumi
from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

from . import remote
from .models import StackConfig
from .topologies import build as build_topology
from .types import Token


class _Recorder(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.commands: list[tuple[str, dict[str, Any]]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        if args.typ == Token.REMOTE_COMMAND:
            inputs = {k: unwrap_rpc_secret(v) for k, v in args.inputs.items()}
            inputs["secret_inputs"] = sorted(k for k, v in args.inputs.items() if is_rpc_secret(v))
            self.commands.append((args.name, inputs))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        return {}


def record(stack: StackConfig) -> list[tuple[str, dict[str, Any]]]:
    """Every remote command of the stack, in registration (= dependency) order."""
    return record_program(lambda: build_topology(stack))[0]


def record_program(
    program: Callable[[], dict[str, Any] | None],
) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, bool]]:
    """Run `program` against the mock monitor: its remote commands, and which outputs are secret."""
    recorder = _Recorder()
    remote.reset_connections()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        pulumi.runtime.set_mocks(recorder, project="ha-openstack", stack="render", preview=True)
        outputs = program() or {}
        loop.run_until_complete(pulumi.runtime.stack.wait_for_rpcs())
        # Registration with the monitor is asynchronous; program order (remote.RECORDED) is
        # deterministic and, since depends_on only names existing resources, a dependency order.
        position = {name: i for i, name in enumerate(remote.RECORDED)}
        recorder.commands.sort(key=lambda item: position[item[0]])
        secret = {key: loop.run_until_complete(pulumi.Output.from_input(value).is_secret())
                  for key, value in outputs.items()}
        return recorder.commands, secret
    finally:
        loop.close()


def render_stack(stack: StackConfig, out: Path) -> int:
    commands = record(stack)
    count = 0
    order: dict[str, list[str]] = {}
    for name, inputs in commands:
        info = remote.RECORDED[name]
        order.setdefault(info.host, []).append(
            f"# {len(order.get(info.host, [])) + 1}. {name}"
            + (f" (writes {info.path})" if info.path else "") + f"\n{inputs.get('create', '')}\n")
        stdin = inputs.get("stdin")
        if stdin is not None and not isinstance(stdin, str):
            # Another command's output (e.g. keys one node hands the others): known only at `up`.
            stdin = "# computed during `pulumi up` from another command's output\n"
        if info.kind == "file" and info.path:
            target = out / info.host / info.path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(stdin or "")
            count += 1
        elif stdin:
            # What a command reads on stdin: CIB changes, SQL (secrets are placeholders here).
            target = out / info.host / "stdin" / f"{name}.txt"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(stdin)
            count += 1
    for host, steps in order.items():
        path = out / host / "COMMANDS.sh"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# Commands ha-openstack runs on {host}, in order.\n\n" + "\n".join(steps))
        count += 1
    return count
