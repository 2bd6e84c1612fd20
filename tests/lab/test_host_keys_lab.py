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
        assert scan(host) == host.ssh.host_key, host.name
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
