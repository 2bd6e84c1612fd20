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
NODES = ["ctl1", "ctl2", "ctl3"]  # what `tools/lab up` boots and the lab stacks deploy onto
ALL_NODES = [*NODES, "ctl4", "ctl5"]  # tier 1's machine slots: ctl4/ctl5 are hardware to add
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
        try:
            with around_up() if around_up else nullcontext():
                up = stack.up(stack_file or REPO / "stacks" / f"Pulumi.{stack_name}.yaml")
        except Exception:
            from .drills import diagnose

            print(diagnose(kernel=kernel))  # what the failed `up` left, before the reset erases it
            raise
        if keep:
            (root / "machine-id").write_text(on("ctl1", "cat /etc/machine-id", kernel=kernel).stdout.strip())
        yield StackDeployment(stack, up, reset_s)
    finally:
        if not keep:
            lab("reset", kernel=kernel, timeout=1800)  # a clean base for the next module


deployed_lab_aa = deployed_stack  # lab-aa on tier 1 is the default


# Drill records, printed as one table at the end of the session (pytest_terminal_summary) and
# appended, one JSON line per drill, to DRILL_RESULTS: `tools/bench --drills` reads them back
# (median and worst failover over the runs). HA_DRILL_RESULTS=FILE writes elsewhere.
DRILL_RESULTS = Path(os.environ.get("HA_DRILL_RESULTS", "/var/lib/ha-openstack-lab/drill-results.jsonl"))
SESSION = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # groups the drills of one run


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
    started_at: float = field(default_factory=time.time)
    fenced: list[str] | None = None  # nodes the cluster fenced during the drill (None: unknown)

    def log(self, what: str) -> None:
        self.events.append(f"{time.monotonic() - self.start:7.1f}s {what}")


DRILL_RECORDS: list[DrillRecord] = []


@pytest.fixture
def drill_record(request: pytest.FixtureRequest) -> Iterator[DrillRecord]:
    """What a drill measured; filled in by the test as it goes (a failed drill keeps what it got)."""
    record = DrillRecord(request.node.nodeid, request.node.name.removeprefix("test_"))
    DRILL_RECORDS.append(record)
    yield record
    kernel = request.node.get_closest_marker("kernel") is not None
    record.fenced = fenced_since(record.started_at, kernel)
    print(f"\ndrill {record.drill}: failover {record.failover_s}, written {record.written}, "
          f"found {record.found}, fenced {record.fenced}, {record.notes}")  # in the log too
    failed = getattr(request.node, "call_failed", None)
    append_result(record, "error" if failed is None else "failed" if failed else "passed", kernel)
    if failed:
        from .drills import diagnose  # the cluster's state while it is still there

        print("\n".join(["", f"--- {record.drill}: timeline", *record.events, diagnose(kernel)]))


def fenced_since(since: float, kernel: bool) -> list[str] | None:
    """The nodes the cluster fenced (successfully) after `since` (epoch seconds), from the
    fencer's history on the nodes that answer; None when no node answered."""
    from .drills import last_fenced

    fenced = []
    try:
        for node in NODES:
            if last_fenced(node, kernel=kernel) >= since - 1:
                fenced.append(node)
    except (AssertionError, subprocess.SubprocessError, pytest.fail.Exception):
        return None
    return fenced


def timing_settings(stack_file: Path) -> dict[str, Any]:
    """The detection and recovery settings a drill ran with, as corosync and HAProxy use them."""
    from ha_components.models.haproxy import ServerCheck
    from ha_components.stackfile import load_stack_file

    stack = load_stack_file(stack_file)
    pcmk = stack.pacemaker
    out: dict[str, Any] = {"token_ms": pcmk.real_token_ms, "consensus_ms": pcmk.real_consensus_ms,
                           "link_mode": pcmk.link_mode, "stonith_timeout": pcmk.fencing.timeout or "60s",
                           "vip_monitor": pcmk.resources.vip_monitor_interval}
    if pcmk.links:
        out["links"] = [link.model_dump(exclude_none=True) for link in pcmk.links]
    if stack.haproxy:
        check: ServerCheck = stack.haproxy.galera_check or stack.haproxy.check
        out["galera_check"] = f"inter {check.inter_ms} fastinter {check.fastinter_ms} fall {check.fall} rise {check.rise}"
    if stack.galera:
        out["galera_suspect_ms"] = stack.galera.suspect_timeout_ms or 5000  # Galera's evs.suspect_timeout
    return out


def append_result(record: DrillRecord, result: str, kernel: bool) -> None:
    """One JSON line per drill in DRILL_RESULTS (never fails the drill: the table has it too)."""
    import json

    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
        stack_file = REPO / "stacks" / ("Pulumi.lab-ap.yaml" if kernel else f"Pulumi.{STACK_AA}.yaml")
        line = {"session": SESSION, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.started_at)),
                "drill": record.drill, "tier": "kernel" if kernel else "tier1", "result": result,
                "failover_s": None if record.failover_s is None else round(record.failover_s, 2),
                "written": record.written, "found": record.found, "fenced": record.fenced,
                "notes": record.notes, "load": round(os.getloadavg()[0], 1), "commit": commit,
                "settings": timing_settings(stack_file)}
        DRILL_RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with DRILL_RESULTS.open("a") as out:
            out.write(json.dumps(line, sort_keys=True) + "\n")
    except Exception as err:  # noqa: BLE001 - a results file is a convenience
        print(f"drill {record.drill}: not written to {DRILL_RESULTS}: {err}")


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
        notes = ", ".join([f"{k} {v}" for k, v in r.notes.items()]
                          + ([f"fenced {' '.join(r.fenced) or 'none'}"] if r.fenced is not None else []))
        terminalreporter.write_line(fmt.format(r.drill, outcome.get(r.nodeid, "?"), *cells, notes))
    terminalreporter.write_line(f"appended to {DRILL_RESULTS} (session {SESSION}); over the runs: tools/bench --drills")

