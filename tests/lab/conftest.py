"""Lab fixtures: bring the local lab (tools/lab) up once per session; deploy lab-aa.

The lab tests fail, never skip, when the lab cannot run: a missing lab is a
broken test environment, not an optional feature.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "tools" / "lab"
NODES = ["ctl1", "ctl2", "ctl3"]
STACK_AA = "lab-aa"
STACK_AA_FILE = REPO / "stacks" / f"Pulumi.{STACK_AA}.yaml"


def lab_aa_core_text() -> str:
    """stacks/Pulumi.lab-aa.yaml with keystone and glance only: for the tests of the HA machinery
    (changes, destroy), which the other services would only make slower. test_deploy_aa.py
    deploys the whole plane."""
    text = STACK_AA_FILE.read_text()
    core, n = re.subn(r"services: \[[^\]]*\]", "services: [keystone, glance-api]", text, count=1)
    assert n == 1, "no openstack.services list in the lab stack"
    return core

sys.path.insert(0, str(REPO / "tests" / "engine"))
from engine_helpers import EngineStack, EngineUp, toolchain_env  # noqa: E402


def addr(node, link=0, kernel=False):
    return f"10.77.{(10 if kernel else 0) + link + 1}.1{node[-1]}"


def tier(kernel):
    """tools/lab's arguments for a tier: tier 1 (nspawn) or the kernel tier (QEMU)."""
    return [str(LAB), *(["--kernel"] if kernel else [])]


def lab(*args, check=True, timeout=900, kernel=False):
    r = subprocess.run([*tier(kernel), *args], capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        pytest.fail(f"tools/lab {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}",
                    pytrace=False)
    return r


def on(node, cmd, check=True, timeout=60, input=None, kernel=False):
    """Run a shell command as root on a lab machine."""
    r = subprocess.run([*tier(kernel), "ssh", node, cmd], capture_output=True, text=True,
                       timeout=timeout, input=input,
                       stdin=None if input is not None else subprocess.DEVNULL)
    if check and r.returncode != 0:
        pytest.fail(f"on {node}: {cmd!r} exited {r.returncode}:\n{r.stdout}\n{r.stderr}",
                    pytrace=False)
    return r


def all_ready():
    for n in NODES:
        r = on(n, "systemctl is-system-running", check=False, timeout=20)
        if r.stdout.strip() != "running":
            return False
    return True


@pytest.fixture(scope="session")
def lab_up():
    if os.geteuid() != 0:
        pytest.fail("the lab needs root (network namespaces, overlay mounts, systemd-nspawn)",
                    pytrace=False)
    lab("up")
    yield
    # Leave the lab up and whole for whoever comes next, even after a failed test.
    for n in NODES:
        lab("heal", n, check=False)
    lab("up")


@pytest.fixture(scope="session")
def kernel_up():
    """The kernel tier (QEMU guests) up; left up and whole at the end."""
    if os.geteuid() != 0:
        pytest.fail("the lab needs root (bridges, taps, QEMU)", pytrace=False)
    lab("up", kernel=True, timeout=1800)
    yield
    for n in NODES:
        lab("heal", n, check=False, kernel=True)
    lab("up", kernel=True, timeout=1800)


# Run only when asked for by name (`-m kernel`, `make lab-kernel-test`; `-m drills`, `make
# drills`): the kernel tier's tests (QEMU guests, tens of minutes) and the fault drills
# (~20 min). `python3 -m pytest` and `-m lab` (tier 1, .ci/run) leave them out.
OPT_IN_MARKERS = ("kernel", "drills")


def pytest_collection_modifyitems(config, items):
    asked = config.getoption("markexpr") or ""
    skipped = [m for m in OPT_IN_MARKERS if m not in asked]
    kept = [i for i in items if not any(i.get_closest_marker(m) for m in skipped)]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("the lab needs root (network namespaces, overlay mounts, systemd-nspawn)", pytrace=False)


def output(up: EngineUp, key: str) -> Any:
    """A stack output, secret or not, as plain data."""
    value = up.outputs[key]
    return getattr(value, "value", value)


@dataclass
class StackDeployment:
    stack: EngineStack
    first: EngineUp
    reset_seconds: float

    def output(self, key: str) -> Any:
        return output(self.first, key)


@contextmanager
def deployed_stack(root: Path, stack_name: str = STACK_AA, kernel: bool = False,
                   stack_file: Path | None = None,
                   around_up: Callable[[], ContextManager[Any]] | None = None) -> Iterator[StackDeployment]:
    """`tools/lab reset` of the tier, a cold `pulumi up` of the stack through the real engine;
    reset again at the end. `stack_file` replaces stacks/Pulumi.<stack_name>.yaml (a variant
    built by the test); `around_up` is entered just before the cold `up` and left after it.

    HA_LAB_KEEP_DEPLOYMENT=DIR (development only): keep the engine state in DIR, deploy only
    when DIR has none yet, and leave the cluster running at the end, so that a drill can be
    re-run against the deployed lab in seconds instead of minutes.
    """
    require_root()
    toolchain_env()  # fails with the install hint when the engine is missing
    keep = os.environ.get("HA_LAB_KEEP_DEPLOYMENT")
    if keep:
        root = Path(keep)
    # The lab is shared: the kept deployment counts only if ctl1 still runs on the same disk.
    machine = on("ctl1", "cat /etc/machine-id", check=False, kernel=kernel).stdout.strip()
    reuse = bool(keep) and (root / "machine-id").is_file() and (root / "machine-id").read_text() == machine
    start = time.monotonic()
    if not reuse:
        shutil.rmtree(root / "state", ignore_errors=True)
        lab("reset", kernel=kernel, timeout=1800)
    reset_s = time.monotonic() - start
    stack = EngineStack(REPO, stack_name, root)
    try:
        with around_up() if around_up else nullcontext():
            up = stack.up(stack_file or REPO / "stacks" / f"Pulumi.{stack_name}.yaml")
        if keep:
            (root / "machine-id").write_text(on("ctl1", "cat /etc/machine-id", kernel=kernel).stdout.strip())
        yield StackDeployment(stack, up, reset_s)
    finally:
        if not keep:
            lab("reset", kernel=kernel, timeout=1800)  # a clean base for the next module


deployed_lab_aa = deployed_stack  # lab-aa on tier 1 is the default


# Drill records, printed as one table at the end of the session (pytest_terminal_summary).
@dataclass
class DrillRecord:
    nodeid: str
    drill: str
    failover_s: float | None = None
    written: int | None = None
    found: int | None = None
    notes: dict[str, str] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)  # a timeline, printed when the drill fails
    start: float = field(default_factory=time.monotonic)

    def log(self, what: str) -> None:
        self.events.append(f"{time.monotonic() - self.start:7.1f}s {what}")


DRILL_RECORDS: list[DrillRecord] = []


@pytest.fixture
def drill_record(request: pytest.FixtureRequest) -> Iterator[DrillRecord]:
    """What a drill measured; filled in by the test as it goes (a failed drill keeps what it got)."""
    record = DrillRecord(request.node.nodeid, request.node.name.removeprefix("test_"))
    DRILL_RECORDS.append(record)
    yield record
    print(f"\ndrill {record.drill}: failover {record.failover_s}, written {record.written}, "
          f"found {record.found}, {record.notes}")  # in the log too, should the session be cut short
    if getattr(request.node, "call_failed", False):
        from .drills import diagnose  # the cluster's state while it is still there

        kernel = request.node.get_closest_marker("kernel") is not None
        print("\n".join(["", f"--- {record.drill}: timeline", *record.events, diagnose(kernel)]))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.call_failed = report.failed  # type: ignore[attr-defined]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not DRILL_RECORDS:
        return
    outcome = {}
    for key in ("passed", "failed", "error"):
        for report in terminalreporter.stats.get(key, []):
            if report.when == "call" or key != "passed":
                outcome.setdefault(report.nodeid, key)
    fmt = "{:<42} {:<7} {:>11} {:>9} {:>9}  {}"
    terminalreporter.section("fault drills")
    terminalreporter.write_line(fmt.format("drill", "result", "failover s", "written", "found", "notes"))
    for r in DRILL_RECORDS:
        cells = ["-" if v is None else (f"{v:.1f}" if isinstance(v, float) else str(v))
                 for v in (r.failover_s, r.written, r.found)]
        notes = ", ".join(f"{k} {v}" for k, v in r.notes.items())
        terminalreporter.write_line(fmt.format(r.drill, outcome.get(r.nodeid, "?"), *cells, notes))

