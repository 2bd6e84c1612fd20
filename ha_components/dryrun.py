"""`render`: run a topology in Pulumi's in-process mock monitor and write what it would push.

Nothing is contacted: the mocks answer every resource registration locally. The
stack comes from the offline loader, so secrets are placeholders in the output.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
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
        self.types: dict[str, str] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        self.types[args.name] = args.typ
        if args.typ == Token.REMOTE_COMMAND:
            inputs = {k: unwrap_rpc_secret(v) for k, v in args.inputs.items()}
            inputs["secret_inputs"] = sorted(k for k, v in args.inputs.items() if is_rpc_secret(v))
            self.commands.append((args.name, inputs))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        return {}


@dataclass
class Recording:
    """What a program registered: remote commands in program order (inputs unwrapped, plus
    `secret_inputs`: which of them were secret), every resource's type token, and the
    outputs the program returned with which of them are secret."""

    commands: list[tuple[str, dict[str, Any]]]
    types: dict[str, str]
    outputs: dict[str, Any]
    secret_outputs: dict[str, bool]


def record(stack: StackConfig) -> list[tuple[str, dict[str, Any]]]:
    """Every remote command of the stack, in registration (= dependency) order, as a preview
    sees it (no SSH key needed; a value computed by another command stays unknown)."""
    return record_program(lambda: build_topology(stack), preview=True).commands


def record_program(program: Callable[[], dict[str, Any] | None], preview: bool = False) -> Recording:
    """Run `program` against the mock monitor. Dependencies and parents are in remote.RECORDED."""
    recorder = _Recorder()
    remote.reset_connections()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        pulumi.runtime.set_mocks(recorder, project="ha-openstack", stack="render", preview=preview)
        outputs = {k: pulumi.Output.from_input(v) for k, v in (program() or {}).items()}
        loop.run_until_complete(pulumi.runtime.stack.wait_for_rpcs())
        # Registration with the monitor is asynchronous; program order (remote.RECORDED) is
        # deterministic and, since depends_on only names existing resources, a dependency order.
        position = {name: i for i, name in enumerate(remote.RECORDED)}
        recorder.commands.sort(key=lambda item: position[item[0]])
        values = {k: loop.run_until_complete(v.future()) for k, v in outputs.items()}
        secret = {k: loop.run_until_complete(v.is_secret()) for k, v in outputs.items()}
        return Recording(recorder.commands, recorder.types, values, secret)
    finally:
        loop.close()
        asyncio.set_event_loop(None)


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
