"""Plain OpenSSH for our own tools (galera-recover, host-keys), with the stack's pinned host keys.

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
    return argv + ["--", f"{ssh.user}@{ssh.host}", command]


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
