"""The one module that knows how files are pushed and commands run (pulumi-command over SSH).

Rules it enforces for every component:
- one connection object per host, built once and reused (a changed connection re-creates commands);
- scripts run under `bash -euo pipefail` and must be idempotent (create re-runs on update);
- secrets travel on stdin, never in a command line; commands that carry them are secret,
  and their output is neither logged nor kept in plain text in the state.

The provider is upstream pulumi-command: it dials a new SSH connection for every command
(retrying `dial_error_limit` times; `per_dial_timeout` bounds the TCP connect, not the SSH
handshake) and by default logs stdout and stderr into the engine's output as info lines.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import shlex
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import pulumi
import pulumi_command.remote as remote

from . import inputs
from .inputs import resolve
from .models import Host
from .ssh import as_root

Content = str | pulumi.Output[str]


@dataclass(frozen=True)
class Recorded:
    """What `render` writes for review: one pushed file or one command, in program order."""

    host: str
    kind: str  # "file" or "command"
    path: str | None = None
    parent: str = ""  # the component's name
    after: tuple[str, ...] = ()  # names of the resources it waits for


def _name(resource: pulumi.Resource) -> str:
    return getattr(resource, "_name", "")


# name of the pulumi resource -> what it does; read by the `render` command (dryrun.py).
RECORDED: dict[str, Recorded] = {}

# What every command and file created now waits for (`after`).
_WAIT_FOR: ContextVar[tuple[pulumi.Resource, ...]] = ContextVar("wait_for", default=())


@contextlib.contextmanager
def after(resources: Sequence[pulumi.Resource]) -> Iterator[None]:
    """Every command and file created inside the block, by any component, waits for
    `resources` (a component's children do not inherit its `depends_on`)."""
    token = _WAIT_FOR.set(_WAIT_FOR.get() + tuple(resources))
    try:
        yield
    finally:
        _WAIT_FOR.reset(token)


@dataclass(frozen=True)
class RemoteHost:
    name: str
    connection: remote.ConnectionArgs
    become: str | None = None  # hosts[].ssh.become: how a non-root user runs commands as root

    def command_line(self, script: str) -> str:
        """What the provider runs for a script on this host: strict bash, as root."""
        return as_root(self.become, bash(script))


_HOSTS: dict[str, RemoteHost] = {}


def connect(host: Host) -> RemoteHost:
    """The host's single connection object (cached per host name)."""
    if host.name not in _HOSTS:
        ssh = host.ssh
        if ssh.private_key is not None:
            key: pulumi.Input[str] = pulumi.Output.secret(ssh.private_key.get_secret_value())
        else:
            key = pulumi.Output.secret(_read_key(Path(ssh.private_key_path or "").expanduser(), host.name))
        fields: dict[str, pulumi.Input[object]] = dict(
            host=ssh.host, port=ssh.port, user=ssh.user, private_key=key,
            # The verified key (models.hosts: the first of the preferred type; upstream
            # pulumi-command pins one). None only with ssh.insecure_skip_host_key.
            host_key=ssh.pinned_host_key)
        # A stack with Outputs (inputs.py): the real values, once the deploy-time checks passed.
        fields.update(inputs.connection_inputs(host))
        _HOSTS[host.name] = RemoteHost(host.name, remote.ConnectionArgs(
            **fields, dial_error_limit=30, per_dial_timeout=10), ssh.become)
    return _HOSTS[host.name]


def _read_key(path: Path, host: str) -> str:
    try:
        return path.read_text()
    except OSError as err:
        if pulumi.runtime.is_dry_run():
            pulumi.log.warn(f"hosts[{host}].ssh.private_key_path: {err.strerror}: {path}; "
                            "previewing without it, `pulumi up` will need it")
            return ""
        raise ValueError(f"hosts[{host}].ssh.private_key_path: cannot read {path}: {err.strerror}") from None


def reset_connections() -> None:
    """Forget cached connections (tests build several programs in one process)."""
    _HOSTS.clear()
    RECORDED.clear()
    inputs.reset()


def slug(path: str) -> str:
    """A resource-name friendly form of a file path."""
    return path.strip("/").replace("/", "-").replace(".", "-")


def content_hash(content: Content) -> pulumi.Output[str]:
    """sha256 of a file's content, for `triggers` of the service that reads it."""
    return pulumi.Output.from_input(resolve(content)).apply(lambda text: hashlib.sha256(text.encode()).hexdigest())


def bash(script: str) -> str:
    # The options are set inside the script, not on bash's command line: started by sshd,
    # Debian's bash reads /etc/bash.bashrc first, whose `[ -z "$PS1" ]` fails under -u and
    # put "PS1: unbound variable" into every command's output.
    return "bash -c " + shlex.quote(STRICT + script.strip() + "\n")


STRICT = "set -euo pipefail\n"


def run(
    name: str,
    host: RemoteHost,
    script: str,
    *,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
    stdin: Content | None = None,
    triggers: Sequence[pulumi.Input[object]] | None = None,
    delete: str | None = None,
    secret: bool = False,
) -> remote.Command:
    """An idempotent script on one host. `secret` marks stdin and the outputs secret and
    turns the provider's logging of the output off (it would print it in plain text).

    A command with both `triggers` and `delete` (it starts units; its delete stops them) is
    never replaced: its triggers go to stdin, which the script does not read, so a change is an
    update that runs create again (a restart in place). A replacement would run the old delete
    too: after the new create it stops what create started; before it (delete_before_replace)
    the units are down for two SSH round trips instead of one restart (11 s on a loaded lab).
    """
    depends_on = [*_WAIT_FOR.get(), *depends_on]
    RECORDED[name] = Recorded(host.name, "command", None, _name(parent),
                              tuple(_name(r) for r in depends_on))
    if triggers and delete:
        if stdin is not None:
            raise ValueError(f"{name}: a command with triggers and delete takes no stdin (its triggers are sent there)")
        stdin = pulumi.Output.all(*[resolve(t) for t in triggers]).apply(lambda values: "".join(f"{v}\n" for v in values))
        triggers = None
    if secret and stdin is not None:
        stdin = pulumi.Output.secret(stdin)
    # resolve: the real values of a stack's Outputs in place of their stand-ins (inputs.py).
    return remote.Command(
        name,
        connection=host.connection,
        create=resolve(host.command_line(script)),
        delete=resolve(host.command_line(delete)) if delete else None,
        stdin=resolve(stdin),
        triggers=[resolve(t) for t in triggers] if triggers else None,
        add_previous_output_in_env=False,
        logging=remote.Logging.NONE if secret else None,
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=list(depends_on),
            additional_secret_outputs=["stdin", "stdout", "stderr"] if secret else None,
        ),
    )


def push_file(
    name: str,
    host: RemoteHost,
    path: str,
    content: Content,
    *,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
    mode: str = "0644",
    owner: str = "root",
    group: str = "root",
    secret: bool = False,
    base64_content: bool = False,
    keep_on_delete: bool = False,
) -> remote.Command:
    """Write a file atomically with its mode and owner; the content travels on stdin."""
    target = shlex.quote(path)
    decode = "base64 -d" if base64_content else "cat"
    script = (
        f"dir=$(dirname {target}); install -d -m 0755 \"$dir\"\n"
        f"tmp=$(mktemp \"$dir/.ha-openstack.XXXXXX\")\n"
        f"trap 'rm -f \"$tmp\"' EXIT\n"
        f"{decode} > \"$tmp\"\n"
        f"chown {shlex.quote(owner)}:{shlex.quote(group)} \"$tmp\"\n"
        f"chmod {mode} \"$tmp\"\n"
        f"mv -f \"$tmp\" {target}\n"
    )
    cmd = run(name, host, script, parent=parent, depends_on=depends_on, stdin=content,
              delete=None if keep_on_delete else f"rm -f {target}", secret=secret)
    RECORDED[name] = dataclasses.replace(RECORDED[name], kind="file", path=path)
    return cmd
