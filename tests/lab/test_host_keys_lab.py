"""The lab serves the host keys lab-aa pins (committed fixtures); a changed key is refused."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ha_components.galera_recover import RecoveryError, ssh_runner
from ha_components.ssh import scan
from ha_components.stackfile import load_stack_file

from .conftest import on

pytestmark = pytest.mark.lab
STACK = Path(__file__).resolve().parents[2] / "stacks" / "Pulumi.lab-aa.yaml"


def test_machines_serve_the_pinned_keys_and_strict_ssh_reaches_them() -> None:
    for host in load_stack_file(STACK).hosts:
        # A machine booted by an older tools/lab (before the fixture keys) serves its own keys
        # until its next boot: `tools/lab reset` under the lab lock.
        assert scan(host) == host.ssh.host_key, f"{host.name}: not the fixture key; boot it with this tools/lab"
        assert ssh_runner(host, "hostname").strip() == host.name


def test_a_changed_host_key_is_refused_by_our_ssh() -> None:
    host = load_stack_file(STACK).hosts[2]
    change = ("cp /etc/ssh/ssh_host_ed25519_key /root/.pinned-key && cp /etc/ssh/ssh_host_ed25519_key.pub "
              "/root/.pinned-key.pub && rm -f /etc/ssh/ssh_host_ed25519_key* && "
              "ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key && systemctl restart ssh")
    restore = ("mv -f /root/.pinned-key /etc/ssh/ssh_host_ed25519_key && "
               "mv -f /root/.pinned-key.pub /etc/ssh/ssh_host_ed25519_key.pub && systemctl restart ssh")
    assert on(host.name, change).returncode == 0
    try:
        with pytest.raises(RecoveryError, match="Host key verification failed"):
            ssh_runner(host, "hostname")
    finally:
        assert on(host.name, restore).returncode == 0
    assert ssh_runner(host, "hostname").strip() == host.name


def test_a_changed_host_key_fails_up_before_anything_runs_there(tmp_path: Path) -> None:
    """Issue 15's "done means": ctl3 answers with another key; `pulumi up` of lab-aa fails
    naming ctl3's commands and the mismatch, and nothing of ours ran on ctl3."""
    from pulumi import automation as auto

    from .conftest import REPO, STACK_AA, STACK_AA_FILE, EngineStack, lab, require_root, toolchain_env

    require_root()
    toolchain_env()
    lab("reset")
    stack = EngineStack(REPO, STACK_AA, tmp_path)
    try:
        on("ctl3", "rm -f /etc/ssh/ssh_host_ed25519_key* && ssh-keygen -q -t ed25519 -N '' "
                   "-f /etc/ssh/ssh_host_ed25519_key && systemctl restart ssh")
        with pytest.raises(auto.CommandError) as failed:
            stack.up(STACK_AA_FILE)
        message = str(failed.value)
        assert "host key mismatch" in message and "ctl3" in message, message[-3000:]
        names = [r["urn"].split("::")[-1] for r in stack.resources()]
        assert not [n for n in names if "ctl3" in n]
        assert "cluster-ctl1-packages" in names  # the other hosts were reached
        assert on("ctl3", "test -e /usr/local/sbin/ha-cib-apply", check=False).returncode == 1
    finally:
        lab("reset")  # fresh disks: the fixture key again
