"""`python -m ha_components galera-recover STACKFILE`: bring Galera back after a full shutdown.

When every node stopped (power loss, all rebooted), no node may simply start: the one
with the newest data must bootstrap a new primary component and the others join it.
This command reads the same stack file as `pulumi up`, probes every Galera node over SSH
with the pushed /usr/local/sbin/ha-galera-recover (grastate.dat, else `--wsrep-recover`
through galera_recovery), picks the highest seqno, and - only with `--yes` - runs
`bootstrap` there and `join` on the others, one at a time, each waiting for Synced.
It needs no secrets: SSH uses the hosts' private_key_path (or your ssh-agent), and checks
each host against its pinned `hosts[].ssh.host_key` (ha_components.ssh).
"""
from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass
from typing import Callable

from .models import Host, StackConfig
from .render.galera import RECOVER_SCRIPT
from .ssh import ssh_argv, ssh_options

Runner = Callable[[Host, str], str]  # (host, remote command) -> stdout; raises on failure


class RecoveryError(Exception):
    pass


@dataclass(frozen=True)
class Probe:
    node: str
    running: bool
    primary: bool
    uuid: str
    seqno: int
    safe_to_bootstrap: bool


def parse_probe(node: str, line: str) -> Probe:
    fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
    try:
        return Probe(node, fields["state"] == "running", fields["primary"] == "yes", fields["uuid"],
                     int(fields["seqno"]), fields["safe_to_bootstrap"] == "1")
    except (KeyError, ValueError):
        raise RecoveryError(f"{node}: unexpected probe output {line!r}") from None


def plan_recovery(probes: list[Probe], bootstrap: str | None = None) -> list[tuple[str, str]]:
    """(node, "bootstrap" | "join" | "running") in the order to run them."""
    if any(p.running and p.primary for p in probes):
        # A primary component exists: nothing to bootstrap, the stopped nodes just join.
        return [(p.node, "running" if p.running else "join") for p in probes]
    uuids = {p.uuid for p in probes if p.uuid not in ("none", "") and p.seqno >= 0}
    if len(uuids) > 1:
        raise RecoveryError(f"the nodes belong to different clusters ({', '.join(sorted(uuids))}); "
                            "recover by hand")
    if bootstrap is not None:
        if bootstrap not in {p.node for p in probes}:
            raise RecoveryError(f"--bootstrap {bootstrap}: not a Galera node of this stack")
        first = bootstrap
    else:
        # One node without a known position may hold the newest commits: bootstrapping the
        # best of the others would throw them away. The operator decides.
        unknown = [p.node for p in probes if p.seqno < 0]
        if unknown:
            raise RecoveryError(f"{', '.join(unknown)}: last committed seqno unknown; inspect the nodes "
                                "and choose one with --bootstrap NODE")
        known = probes
        best = max(p.seqno for p in known)
        candidates = [p for p in known if p.seqno == best]
        first = next((p.node for p in candidates if p.safe_to_bootstrap), candidates[0].node)
    return [(first, "bootstrap")] + [(p.node, "join") for p in probes if p.node != first]


def ssh_runner(host: Host, command: str) -> str:
    ssh = host.ssh
    if ssh.private_key is not None:
        raise RecoveryError(f"hosts[{host.name}]: galera-recover uses ssh with private_key_path "
                            "or your ssh-agent, not an inline private_key")
    with ssh_options(host) as options:
        done = subprocess.run(ssh_argv(host, options, command), capture_output=True, text=True)
    if done.returncode != 0:
        raise RecoveryError(f"{host.name}: `{command}` failed ({done.returncode}): "
                            f"{done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def recover(stack: StackConfig, *, apply: bool, bootstrap: str | None = None,
            run: Runner = ssh_runner, out: Callable[[str], None] = print) -> None:
    if stack.galera is None:
        raise RecoveryError("the stack has no galera section")
    hosts = [stack.host(n) for n in stack.galera.nodes]
    timeout = stack.galera.timeout_seconds
    probes = []
    for host in hosts:
        line = run(host, f"{RECOVER_SCRIPT} probe").strip().splitlines()[-1:] or [""]
        probe = parse_probe(host.name, line[0])
        out(f"{host.name}: {'running' if probe.running else 'stopped'}"
            f"{' (primary)' if probe.primary else ''}, seqno {probe.seqno}, uuid {probe.uuid}, "
            f"safe_to_bootstrap {int(probe.safe_to_bootstrap)}")
        probes.append(probe)
    plan = plan_recovery(probes, bootstrap)
    out("plan: " + ", ".join(f"{action} {node}" for node, action in plan))
    if not apply:
        out("dry run: nothing changed; run again with --yes to apply the plan")
        return
    by_name = {h.name: h for h in hosts}
    for node, action in plan:
        if action == "running":
            continue
        out(f"{node}: {action} ...")
        out(run(by_name[node], f"{RECOVER_SCRIPT} {action} {shlex.quote(str(timeout))}").strip())
