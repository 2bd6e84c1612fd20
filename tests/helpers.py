"""Test helpers: shipped stacks as data, and stacks with runtime-like secret values."""
from __future__ import annotations

import base64
import copy
import os
import re
import subprocess
import uuid
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, Callable

from ha_components.models import StackConfig, StackConfigError, validate_stack
from ha_components.models.hosts import Host
from ha_components.models.pacemaker import PacemakerSpec
from ha_components.render.corosync import corosync_conf
from ha_components.models.base import SECRET_PLACEHOLDER_PREFIX
from ha_components.stackfile import config_from_stack_file

ROOT = Path(__file__).resolve().parent.parent
STACKS = ROOT / "stacks"
GOLDEN = Path(__file__).resolve().parent / "golden"
SHIPPED_STACKS = sorted(STACKS.glob("Pulumi.*.yaml"))

# Deterministic fake secrets: long and distinctive, so a leak is easy to find.
AUTHKEY = base64.b64encode(bytes(range(256))).decode()


def fake_secret(path: str) -> str:
    return f"S3cret-{path.replace('.', '-')}-x9"


def _fill_secrets(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(SECRET_PLACEHOLDER_PREFIX):
        path = value[len(SECRET_PLACEHOLDER_PREFIX):-1]
        return AUTHKEY if path == "pacemaker.authkey" else fake_secret(path)
    if isinstance(value, dict):
        return {k: _fill_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_secrets(v) for v in value]
    return value


def stack_data(name: str) -> dict[str, Any]:
    """A shipped stack's config as the offline loader sees it (secrets are placeholders)."""
    return copy.deepcopy(config_from_stack_file(STACKS / f"Pulumi.{name}.yaml"))


def make_runtime_stack(tmp_path: Path) -> Callable[..., StackConfig]:
    """A shipped stack as the engine would hand it over: secrets decrypted, key file present."""
    key = tmp_path / "id_test"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n")

    def make(name: str, edit: Callable[[dict[str, Any]], None] | None = None) -> StackConfig:
        data = _fill_secrets(stack_data(name))
        for host in data["hosts"]:
            host["ssh"]["private_key_path"] = str(key)
        if edit:
            edit(data)
        return validate_stack(data)

    return make


def secret_values(stack: StackConfig) -> list[str]:
    from ha_components.models import secret_fields

    return [v.get_secret_value() for _, v in secret_fields(stack)]


def waits_for(name: str) -> set[str]:
    """Every resource the command `name` waits for, directly or through what those wait for
    (from remote.RECORDED, filled by the last program run under the mocks)."""
    from ha_components import remote

    seen: set[str] = set()
    todo = list(remote.RECORDED[name].after)
    while todo:
        dep = todo.pop()
        if dep in seen:
            continue
        seen.add(dep)
        if dep in remote.RECORDED:
            todo.extend(remote.RECORDED[dep].after)
        else:  # a component: depending on it waits for every one of its children
            todo.extend(n for n, r in remote.RECORDED.items() if r.parent == dep)
    return seen


def problems(data: dict[str, Any]) -> list[str]:
    """`validate_stack`'s problems with `data` as text; [] when it is valid."""
    try:
        validate_stack(data)
    except StackConfigError as err:
        return [str(p) for p in err.problems]
    return []


def assert_problem(data: dict[str, Any], field: str, *words: str) -> None:
    """`data` is refused with a problem naming `field` that says each of `words`."""
    lines = problems(data)
    matching = [line for line in lines if line.startswith(f"{field}: ")]
    assert matching, f"no problem names {field!r}; got {lines}"
    for word in words:
        assert any(word in line for line in matching), f"{word!r} not in {matching}"


def corosync_test(spec: PacemakerSpec, hosts: list[Host], addresses: list[IPv4Address],
                  tmp_path: Path) -> subprocess.CompletedProcess:
    """`corosync -t` on the rendered corosync.conf in a fresh network namespace holding
    `addresses` (one node's own, as on the host). Needs root."""
    key = tmp_path / "authkey"
    key.write_bytes(os.urandom(256))
    conf = tmp_path / "corosync.conf"
    conf.write_text(corosync_conf(spec, hosts, keyfile=str(key)))
    ns = f"hao-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        for addr in addresses:
            subprocess.run(["ip", "-n", ns, "addr", "add", f"{addr}/32", "dev", "lo"], check=True)
        return subprocess.run(["ip", "netns", "exec", ns, "corosync", "-t", "-c", str(conf)],
                              capture_output=True, text=True, timeout=60)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=True)


LAB_HOST_KEYS = ROOT / "tools" / "lab.d" / "host-keys"


def lab_stack_grown(text: str, count: int) -> str:
    """A lab stack file's text with `count` controllers (ctl1..ctlN) where it had three: the
    hosts (addresses and fixture host keys of tools/lab), every role's nodes and the fence targets."""
    names = [f"ctl{i}" for i in range(1, count + 1)]
    three = "[ctl1, ctl2, ctl3]"
    assert three in text, "no three-controller node list in the stack"
    text = text.replace(three, "[" + ", ".join(names) + "]")
    block = re.search(r"(?ms)^    - name: ctl3\n.*?^      addresses: \[[^\]]*\]\n", text)
    assert block, "no ctl3 host in the stack"
    added = ""
    for name in names[3:]:
        n = name[-1]
        key = " ".join((LAB_HOST_KEYS / f"{name}-ssh_host_ed25519_key.pub").read_text().split()[:2])
        added += (block[0].replace("10.77.1.13", f"10.77.1.1{n}").replace("10.77.2.13", f"10.77.2.1{n}")
                  .replace("name: ctl3", f"name: {name}")
                  .replace(re.search(r"host_key: (\S+ \S+)", block[0])[1], key))
    return text[:block.end()] + added + text[block.end():]


def lab_stack_leaving(text: str, leaving: list[str]) -> str:
    """A grown lab stack file's text (lab_stack_grown) with the `leaving` controllers taken out
    of every role and listed in `leaving`; they stay in `hosts` (issue 17, shrinking)."""
    if not leaving:
        return text
    lists = re.findall(r"\[ctl1(?:, ctl\d)+\]", text)
    assert lists, "no controller node list in the stack"
    for found in set(lists):
        names = [n for n in found.strip("[]").split(", ") if n not in leaving]
        text = text.replace(found, "[" + ", ".join(names) + "]")
    assert "\n  ha-openstack:leaving:" not in text
    return text.replace("\nconfig:\n", f"\nconfig:\n  ha-openstack:leaving: [{', '.join(leaving)}]\n", 1)
