"""The floor of a deployment (issue 7, part 3): the remote commands a `pulumi up` ran, replayed
over plain OpenSSH without the engine, each started as soon as its dependencies are done.

Benchmark code only: the SDK never uses it. The commands come from the stack's state after the
engine's cold `up` (`pulumi stack export --show-secrets`): the exact `create` scripts and stdin
the engine sent (secrets decrypted), and the dependencies the engine recorded (a dependency on
a component stands for every command under it). One multiplexed SSH connection per host
(ControlMaster), opened inside the timed run, one session per command: the least an SSH-based
deployment of these scripts can do, with the engine's own parallelism (unbounded) and order.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COMMAND_TYPE = "command:remote:Command"
SESSIONS_PER_HOST = 8  # below sshd's default MaxSessions (10) per multiplexed connection


@dataclass
class Step:
    urn: str
    host: str
    port: int
    user: str
    script: str
    stdin: str | None
    deps: set[str] = field(default_factory=set)
    host_key: str | None = None  # the connection's pinned hostKey
    start: float = 0.0
    end: float = 0.0

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


def _plain(value: Any) -> Any:
    """A value of `stack export --show-secrets`: secrets come as {<sig>: ..., "plaintext": json}."""
    if isinstance(value, dict) and "plaintext" in value:
        return json.loads(value["plaintext"])
    return value


def steps_from_state(deployment: dict[str, Any]) -> list[Step]:
    """The remote commands of a deployment (`stack export` JSON) with their dependencies."""
    resources = deployment["deployment"]["resources"]
    parent = {r["urn"]: r.get("parent", "") for r in resources}
    commands = {r["urn"]: r for r in resources if r["type"] == COMMAND_TYPE}

    def under(urn: str) -> set[str]:
        """The commands a dependency on `urn` stands for: itself, or every command below it."""
        if urn in commands:
            return {urn}
        found = set()
        for c in commands:
            p = parent[c]
            while p:
                if p == urn:
                    found.add(c)
                    break
                p = parent.get(p, "")
        return found

    steps = []
    for urn, r in commands.items():
        inputs = {k: _plain(v) for k, v in r.get("inputs", {}).items()}
        conn = {k: _plain(v) for k, v in (inputs.get("connection") or {}).items()}
        deps: set[str] = set()
        for d in r.get("dependencies", []):
            deps |= under(d)
        for ds in (r.get("propertyDependencies") or {}).values():
            for d in ds:
                deps |= under(d)
        steps.append(Step(urn, conn["host"], int(conn.get("port", 22)), conn.get("user", "root"),
                          inputs["create"], inputs.get("stdin"), deps - {urn}, conn.get("hostKey")))
    return steps


def private_key(deployment: dict[str, Any]) -> str:
    for r in deployment["deployment"]["resources"]:
        if r["type"] == COMMAND_TYPE:
            return _plain(_plain(r["inputs"]["connection"])["privateKey"])
    raise ValueError("no remote command in the state")


@dataclass
class FloorRun:
    seconds: float
    steps: list[Step]
    connect_s: float  # opening the SSH connections (part of `seconds`)


def replay(steps: list[Step], key: str) -> FloorRun:
    """Run every step over SSH in dependency order, as parallel as the dependencies allow."""
    tmp = Path(tempfile.mkdtemp(prefix="ha-floor-"))
    key_file = tmp / "key"
    key_file.write_text(key if key.endswith("\n") else key + "\n")
    key_file.chmod(0o600)
    hosts = sorted({(s.user, s.host, s.port) for s in steps})
    # The keys the stack pins, as the engine checked them; a host without one is refused.
    known = tmp / "known_hosts"
    known.write_text("".join(f"{s.host if s.port == 22 else f'[{s.host}]:{s.port}'} {s.host_key}\n"
                             for s in {(s.host, s.port): s for s in steps if s.host_key}.values()))

    def ssh(user: str, host: str, port: int, *extra: str) -> list[str]:
        return ["ssh", "-i", str(key_file), "-p", str(port), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", f"ControlPath={tmp}/%r@%h:%p", *extra, f"{user}@{host}"]

    by_urn = {s.urn: s for s in steps}
    slots = {h: threading.Semaphore(SESSIONS_PER_HOST) for h in hosts}

    def run(step: Step) -> None:
        target = (step.user, step.host, step.port)
        with slots[target]:
            step.start = time.monotonic()
            proc = subprocess.run([*ssh(*target, "-o", "ControlMaster=no"), step.script],
                                  input=step.stdin or "", capture_output=True, text=True)
            step.end = time.monotonic()
        if proc.returncode != 0:
            raise RuntimeError(f"{step.name} on {step.host} exited {proc.returncode}:\n"
                               f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")

    start = time.monotonic()
    masters = [subprocess.Popen(ssh(*h, "-o", "ControlMaster=yes", "-o", "ControlPersist=300", "-N", "-f"))
               for h in hosts]
    if any(m.wait() != 0 for m in masters):
        raise RuntimeError("could not open the SSH connections")
    connect_s = time.monotonic() - start
    done: set[str] = set()
    running: dict[Future, Step] = {}
    try:
        with ThreadPoolExecutor(max_workers=len(steps)) as pool:
            pending = list(steps)
            while pending or running:
                ready = [s for s in pending if s.deps <= done]
                for s in ready:
                    pending.remove(s)
                    running[pool.submit(run, s)] = s
                if not running:
                    raise RuntimeError(f"dependency cycle or unknown dependency: {[s.name for s in pending]}")
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for f in finished:
                    f.result()
                    done.add(running.pop(f).urn)
        seconds = time.monotonic() - start
    finally:
        for h in hosts:
            subprocess.run(ssh(*h, "-O", "exit"), capture_output=True)
        key_file.unlink()
    for s in steps:  # relative to the start of the run
        s.start -= start
        s.end -= start
    assert set(by_urn) == done
    return FloorRun(seconds, steps, connect_s)


def critical_path(durations: dict[str, float], deps: dict[str, set[str]]) -> tuple[float, list[str]]:
    """Longest chain of dependent commands, by the given per-command durations."""
    finish: dict[str, tuple[float, list[str]]] = {}

    def visit(urn: str) -> tuple[float, list[str]]:
        if urn not in finish:
            before = max((visit(d) for d in deps[urn]), default=(0.0, []), key=lambda x: x[0])
            finish[urn] = (before[0] + durations.get(urn, 0.0), [*before[1], urn])
        return finish[urn]

    return max((visit(u) for u in deps), key=lambda x: x[0], default=(0.0, []))
