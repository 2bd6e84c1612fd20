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


def addr(node, link=0):
    return f"10.77.{link + 1}.1{node[-1]}"


def lab(*args, check=True, timeout=900):
    r = subprocess.run([str(LAB), *args], capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        pytest.fail(f"tools/lab {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}",
                    pytrace=False)
    return r


def on(node, cmd, check=True, timeout=60, input=None):
    """Run a shell command as root on a lab machine."""
    r = subprocess.run([str(LAB), "ssh", node, cmd], capture_output=True, text=True,
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
