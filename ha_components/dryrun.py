"""`render`: run a topology in Pulumi's in-process mock monitor and write what it would push.

Nothing is contacted: the mocks answer every resource registration locally. The
stack comes from the offline loader, so secrets are placeholders in the output.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.rpc import unwrap_rpc_secret

from . import remote
from .models import StackConfig
from .types import Token


class _Recorder(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.commands: list[tuple[str, dict[str, Any]]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        if args.typ == Token.REMOTE_COMMAND:
            inputs = {k: unwrap_rpc_secret(v) for k, v in args.inputs.items()}
            self.commands.append((args.name, inputs))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        return {}


def record(stack: StackConfig) -> list[tuple[str, dict[str, Any]]]:
    """Every remote command of the stack, in registration (= dependency) order."""
    from .topologies import build

    recorder = _Recorder()
    remote.reset_connections()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        pulumi.runtime.set_mocks(recorder, project="ha-openstack", stack="render", preview=False)
        build(stack)
        loop.run_until_complete(pulumi.runtime.stack.wait_for_rpcs())
    finally:
        loop.close()
    return recorder.commands


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
