"""`python -m ha_components host-keys STACKFILE [--write]`: collect the hosts' SSH keys to pin.

Prints each host's keys as ssh-keyscan lines and their SHA256 fingerprints, to compare out
of band (console, `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host). `--write`
puts them into the stack file's `hosts[].ssh.host_key`, editing only those lines.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from .models import Host, StackConfig
from .ssh import describe, known_hosts_name, scan

Scanner = Callable[[Host], list[str]]


class HostKeyError(Exception):
    pass


def collect(stack: StackConfig, out: Callable[[str], None] = print,
            scanner: Scanner = scan) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for host in stack.hosts:
        keys = scanner(host)
        if not keys:
            raise HostKeyError(f"{host.name} ({known_hosts_name(host)}): no host key answered")
        found[host.name] = keys
        for key in keys:
            out(f"{known_hosts_name(host)} {key}")
        for key in keys:
            out(f"# {describe(host, key)}")
    return found


def write_keys(path: Path, stack: StackConfig, keys: dict[str, list[str]]) -> str:
    """The stack file's text with each host's `host_key` set (block or flow style `ssh:`)."""
    lines = path.read_text().splitlines(keepends=True)
    for host in stack.hosts:
        value = keys[host.name]
        pattern = re.compile(r"(\bhost:\s*)" + re.escape(host.ssh.host) + r"(?=\s*[,}#\n]|\s*$)")
        hits = [i for i, line in enumerate(lines) if pattern.search(line)]
        if len(hits) != 1:
            raise HostKeyError(f"{host.name}: cannot find exactly one `host: {host.ssh.host}` line to edit")
        i = hits[0]
        line = lines[i]
        if "{" in line[:pattern.search(line).start()]:  # flow style: ssh: {host: X, ...}
            flow = "[" + ", ".join(f'"{k}"' for k in value) + "]"
            for j in range(i, min(i + 4, len(lines))):  # an existing host_key on the next lines
                lines[j] = re.sub(r',?\s*host_key:\s*(\[[^\]]*\]|"[^"]*"|[^,}\n]*)', "", lines[j])
            lines[i] = pattern.sub(lambda m: f"{m.group(0)}, host_key: {flow}", lines[i], count=1)
        else:  # block style: the keys go below `host:`, at its indent
            indent = line[:len(line) - len(line.lstrip())]
            j = i + 1
            while j < len(lines) and lines[j].startswith(indent) and not lines[j].startswith(indent + " ") \
                    and not lines[j].lstrip().startswith("host_key:"):
                j += 1
            if j < len(lines) and lines[j].startswith(indent + "host_key:"):
                end = j + 1
                while end < len(lines) and lines[end].startswith(indent + "  -"):
                    end += 1
                del lines[j:end]
            block = [f"{indent}host_key:\n"] + [f"{indent}  - {k}\n" for k in value]
            lines[i + 1:i + 1] = block
    return "".join(lines)
