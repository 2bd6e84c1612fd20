"""The lab's kernel tier (tools/lab --kernel): QEMU guests with a kernel of their own.

Run with `make lab-kernel-test` (or `tools/lab --kernel up` and
`python3 -m pytest -m kernel tests/lab`). The default lab run deselects these.
"""
import os
import socket
import subprocess
import time

import pytest

from .conftest import NODES, addr, lab, on

pytestmark = [pytest.mark.lab, pytest.mark.kernel]
FENCE_SERVER = "10.77.11.1"


def k(node: str, cmd: str, **kw) -> subprocess.CompletedProcess:
    return on(node, cmd, kernel=True, **kw)


def host_reaches(ip: str) -> bool:
    """The host opens a TCP connection to sshd on ip (the host has no ping)."""
    try:
        socket.create_connection((ip, 22), timeout=3).close()
        return True
    except OSError:
        return False


def test_guests_answer_ssh_with_systemd_running_on_their_own_kernel(kernel_up):
    host_kernel = os.uname().release
    for n in NODES:
        r = k(n, "hostname; uname -r; systemctl is-system-running; cat /etc/machine-id", check=False)
        hostname, release, state, _ = r.stdout.split("\n", 3)
        assert hostname == n
        assert release != host_kernel and release.endswith("-amd64")
        assert state == "running", k(n, "systemctl --failed --no-legend", check=False).stdout
    ids = {k(n, "cat /etc/machine-id").stdout for n in NODES}
    keys = {k(n, "cat /etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1] for n in NODES}
    assert len(ids) == len(keys) == len(NODES)


def test_both_links_and_spare_disks(kernel_up):
    for n in NODES:
        for link in (0, 1):
            assert host_reaches(addr(n, link, kernel=True)), f"{n} link {link}"
        k("ctl1", f"ping -c1 -W2 {addr(n, 1, kernel=True)}")
        disks = k(n, "lsblk -dnbo NAME,SIZE /dev/vdb /dev/vdc").stdout.split()
        assert disks == ["vdb", str(1 << 30), "vdc", str(1 << 30)]


def test_drbd_module_loads(kernel_up):
    for n in ("ctl1", "ctl2"):
        k(n, "modprobe drbd")
        assert "version: 8.4" in k(n, "cat /proc/drbd").stdout


RES = "labtest"


def drbd_conf() -> str:
    hosts = "".join(f"  on {n} {{ address {addr(n, 1, kernel=True)}:7799; }}\n" for n in ("ctl1", "ctl2"))
    return (f"resource {RES} {{\n  protocol C;\n  device /dev/drbd9;\n  disk /dev/vdb;\n"
            f"  meta-disk internal;\n{hosts}}}\n")


def drbd_clean(n: str) -> None:
    k(n, f"drbdadm down {RES}; drbdadm -- --force wipe-md {RES} </dev/null; "
         f"rm -f /etc/drbd.d/{RES}.res; blkdiscard /dev/vdb || "
         "dd if=/dev/zero of=/dev/vdb bs=1M oflag=direct status=none", check=False, timeout=300)


def test_drbd_resource_syncs_between_two_guests(kernel_up):
    pair = ("ctl1", "ctl2")
    try:
        for n in pair:
            k(n, f"modprobe drbd && cat > /etc/drbd.d/{RES}.res", input=drbd_conf())
            k(n, f"drbdadm -- --force create-md {RES} </dev/null && drbdadm up {RES}", timeout=120)
        t0 = time.monotonic()
        k("ctl1", f"drbdadm primary --force {RES}")
        states = ""
        while time.monotonic() - t0 < 900:
            states = k("ctl1", f"drbdadm dstate {RES}; drbdadm role {RES}").stdout.split()
            if states[0] == "UpToDate/UpToDate":
                break
            time.sleep(2)
        took = time.monotonic() - t0
        print(f"DRBD initial sync of 1 GiB: {took:.0f}s")
        assert states == ["UpToDate/UpToDate", "Primary/Secondary"], states
        assert k("ctl2", f"drbdadm dstate {RES}").stdout.strip() == "UpToDate/UpToDate"
    finally:
        for n in pair:
            drbd_clean(n)
    assert not k("ctl1", "wipefs -n /dev/vdb").stdout.strip()


def test_fence_agent_powers_a_guest_off_and_on(kernel_up):
    agent = f"fence_halab -a {FENCE_SERVER} -n ctl3"
    assert k("ctl1", f"{agent} -o status", check=False).returncode == 0
    k("ctl1", f"{agent} -o off", timeout=120)
    assert k("ctl1", f"{agent} -o status", check=False).returncode == 2
    assert lab("status", "ctl3", check=False, kernel=True).returncode == 2
    assert not host_reaches(addr("ctl3", 0, kernel=True))
    k("ctl1", f"{agent} -o on", timeout=120)
    assert lab("status", "ctl3", check=False, kernel=True).returncode == 0
    lab("start", "ctl3", kernel=True, timeout=900)  # already on: waits for SSH + systemd
    assert k("ctl3", "systemctl is-system-running").stdout.strip() == "running"


def test_kill_keeps_the_disk_and_start_boots_it_again(kernel_up):
    k("ctl2", "echo kept > /root/kill-marker && sync")
    lab("kill", "ctl2", kernel=True)
    assert lab("status", "ctl2", check=False, kernel=True).returncode == 2
    assert not host_reaches(addr("ctl2", 0, kernel=True))
    lab("start", "ctl2", kernel=True, timeout=900)
    assert k("ctl2", "cat /root/kill-marker; rm /root/kill-marker").stdout == "kept\n"


def test_isolate_and_heal(kernel_up):
    target = addr("ctl3", 0, kernel=True)
    lab("isolate", "ctl3", kernel=True)
    try:
        assert k("ctl1", f"ping -c1 -W2 {target}", check=False).returncode != 0
    finally:
        lab("heal", "ctl3", kernel=True)
    k("ctl1", f"ping -c3 -W2 {target} >/dev/null || ping -c1 -W2 {target}")
