"""Lab fixtures: bring the local lab (tools/lab) up once per session.

The lab tests fail, never skip, when the lab cannot run: a missing lab is a
broken test environment, not an optional feature.
"""
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "tools" / "lab"
NODES = ["ctl1", "ctl2", "ctl3"]


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


def pytest_collection_modifyitems(config, items):
    """The kernel tier's tests (marker `kernel`, QEMU guests, tens of minutes) run only when
    asked for by name (`-m kernel`, `make lab-kernel-test`): `python3 -m pytest` and
    `-m lab` (tier 1, .ci/run) leave them out."""
    if "kernel" in (config.getoption("markexpr") or ""):
        return
    kept = [i for i in items if i.get_closest_marker("kernel") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept
