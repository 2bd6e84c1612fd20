"""Pinned SSH host keys: validation, the connection pulumi-command gets, our own ssh, host-keys."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ha_components.hostkeys import write_keys
from ha_components.models.hosts import fingerprint, parse_host_key
from ha_components.ssh import ssh_argv, ssh_options
from ha_components.stackfile import load_stack_file

from .helpers import STACKS
from .test_config import assert_problem, edited

ROOT = Path(__file__).resolve().parent.parent
ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGHARtDjquQKDXGDUAzkOGGoMmX+oQOTuDovKK6GDGoz"
ECDSA = ("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBCAquXniuFjBf8OrlJdIvIvB"
         "sfMizgo1cHcTPHKQG1OzNCLA92FIUJRgxgEUZOA4c1jExZS9nd/ADlvkY/vrZ9I=")


def test_a_host_without_a_key_is_rejected_naming_host_key() -> None:
    assert_problem(edited(lambda d: d["hosts"][1]["ssh"].pop("host_key"), "lab-aa"),
                   "hosts[1].ssh.host_key", "no SSH host key")


def test_skipping_needs_a_reason() -> None:
    def skip(d: dict) -> None:
        d["hosts"][0]["ssh"].pop("host_key")
        d["hosts"][0]["ssh"]["insecure_skip_host_key"] = True
    assert_problem(edited(skip, "lab-aa"), "hosts[0].ssh.insecure_skip_host_key_reason", "reason")


@pytest.mark.parametrize("key, words", [("ssh-ed25519", "not a public key"), ("ssh-dss AAAAB3", "not a public key"),
                                        (ED.replace("ssh-ed25519", "ssh-rsa"), "is a 'ssh-ed25519' key"),
                                        ("ssh-ed25519 !!!", "not an SSH public key blob")])
def test_malformed_keys_are_rejected(key: str, words: str) -> None:
    assert_problem(edited(lambda d: d["hosts"][0]["ssh"].__setitem__("host_key", [ED, key]), "lab-aa"),
                   "hosts[0].ssh.host_key[1]", words)


def test_pinned_key_prefers_ed25519_and_fingerprint_matches_ssh_keygen(tmp_path: Path) -> None:
    stack = load_stack_file(STACKS / "Pulumi.lab-aa.yaml")
    ssh = stack.hosts[0].ssh.model_copy(update={"host_key": [ECDSA, ED]})
    assert ssh.pinned_host_key == ED
    pub = ROOT / "tools/lab.d/host-keys/ctl1-ssh_host_ed25519_key.pub"
    out = __import__("subprocess").run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True).stdout
    assert fingerprint(parse_host_key(pub.read_text())[1]) in out


@pytest.mark.parametrize("name", ["lab-aa", "lab-ap"])
def test_lab_stacks_pin_the_committed_lab_fixture_keys(name: str) -> None:
    stack = load_stack_file(STACKS / f"Pulumi.{name}.yaml")
    for host in stack.hosts:
        fixture = (ROOT / f"tools/lab.d/host-keys/{host.name}-ssh_host_ed25519_key.pub").read_text()
        assert host.ssh.host_key == [" ".join(fixture.split()[:2])]


def test_our_ssh_checks_the_pinned_key_strictly() -> None:
    host = load_stack_file(STACKS / "Pulumi.lab-aa.yaml").hosts[0]
    with ssh_options(host) as options:
        known = next(o.split("=", 1)[1] for o in options if o.startswith("UserKnownHostsFile="))
        assert Path(known).read_text() == f"10.77.1.11 {host.ssh.host_key[0]}\n"
        argv = ssh_argv(host, options, "true")
    text = " ".join(argv)
    assert "StrictHostKeyChecking=yes" in text and "accept-new" not in text and "=no" not in text
    assert argv[-2:] == ["root@10.77.1.11", "true"] and argv[-3] == "--"
    assert not Path(known).exists()  # temporary


def test_host_keys_write_block_and_flow_styles(tmp_path: Path) -> None:
    for name in ("lab-aa", "example-aa"):
        path = tmp_path / f"Pulumi.{name}.yaml"
        shutil.copy(STACKS / f"Pulumi.{name}.yaml", path)
        stack = load_stack_file(path)
        path.write_text(write_keys(path, stack, {h.name: [ED, ECDSA] for h in stack.hosts}))
        again = load_stack_file(path)
        assert all(h.ssh.host_key == [ED, ECDSA] for h in again.hosts)
        assert again.model_dump(exclude={"hosts"}) == stack.model_dump(exclude={"hosts"})


def test_every_command_connects_with_its_hosts_pinned_key(tmp_path: Path) -> None:
    from ha_components import remote
    from ha_components.dryrun import record

    stack = load_stack_file(STACKS / "Pulumi.lab-aa.yaml")
    pinned = {h.name: h.ssh.host_key[0] for h in stack.hosts}
    commands = record(stack)
    assert commands
    for name, inputs in commands:
        conn = inputs["connection"]
        assert conn.get("hostKey") == pinned[remote.RECORDED[name].host], name
