"""Plain OpenSSH for our own tools (galera-recover, host-keys), with the stack's pinned host keys,
and `as_root`: how every remote command (ours and pulumi-command's) becomes root.

Never `accept-new` or `StrictHostKeyChecking=no`: a pinned host is checked against a
temporary known_hosts holding only its `hosts[].ssh.host_key`; a host that skips pinning
(`insecure_skip_host_key`) is checked against the operator's own known_hosts.
"""
from __future__ import annotations

import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .models import Host
from .models.hosts import HOST_KEY_TYPES, fingerprint, parse_host_key

# Non-interactive (-n: fail at once instead of waiting for a password nobody types), root's
# HOME (-H: scripts and tools that read ~ find root's files). sudo passes stdin through to the
# command untouched when it has no terminal, so secrets still travel on stdin only.
SUDO = "sudo -n -H --"


def as_root(become: str | None, command: str) -> str:
    """The command line that runs `command` as root for an SSH user with this `become`."""
    return f"{SUDO} {command}" if become == "sudo" else command


def known_hosts_name(host: Host) -> str:
    """How ssh and ssh-keyscan name the host in known_hosts: `[addr]:port` off port 22."""
    ssh = host.ssh
    return ssh.host if ssh.port == 22 else f"[{ssh.host}]:{ssh.port}"


@contextmanager
def ssh_options(host: Host) -> Iterator[list[str]]:
    """`-o` options that make ssh verify the host's pinned key(s), valid inside the `with`."""
    base = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
    if not host.ssh.host_key:
        yield base
        return
    with tempfile.NamedTemporaryFile("w", prefix="ha-known-hosts-", suffix=".txt") as known:
        known.writelines(f"{known_hosts_name(host)} {key}\n" for key in host.ssh.host_key)
        known.flush()
        yield base + ["-o", f"UserKnownHostsFile={known.name}", "-o", "GlobalKnownHostsFile=/dev/null",
                      "-o", "HostKeyAlgorithms=" + ",".join(sorted({k.split()[0] for k in host.ssh.host_key}))]


def ssh_argv(host: Host, options: list[str], command: str) -> list[str]:
    ssh = host.ssh
    argv = ["ssh", *options, "-p", str(ssh.port)]
    if ssh.private_key_path:
        argv += ["-i", str(Path(ssh.private_key_path).expanduser())]
    return argv + ["--", f"{ssh.user}@{ssh.host}", as_root(ssh.become, command)]


def scan(host: Host, timeout: int = 10) -> list[str]:
    """The host's public keys as ssh-keyscan reports them (`type AAAA...`), preferred type first.
    Unverified: an operator compares the fingerprints out of band before pinning them."""
    done = subprocess.run(["ssh-keyscan", "-T", str(timeout), "-p", str(host.ssh.port),
                           "-t", ",".join(t for t in HOST_KEY_TYPES), "--", host.ssh.host],
                          capture_output=True, text=True)
    keys = []
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and not line.startswith("#"):
            try:
                keys.append(" ".join(parse_host_key(" ".join(parts[1:3]))))
            except ValueError:
                continue
    return sorted(set(keys), key=lambda k: (HOST_KEY_TYPES.index(k.split()[0]), k))


def describe(host: Host, key: str) -> str:
    """`<name> <known-hosts name> <type> SHA256:...`: the fingerprint to compare out of band."""
    kind, blob = key.split()[:2]
    return f"{host.name} {known_hosts_name(host)} {kind} {fingerprint(blob)}"
