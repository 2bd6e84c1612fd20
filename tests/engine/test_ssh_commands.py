"""The upstream pulumi-command provider, through the real engine, against a real sshd: the
contract the SDK relies on (re-runs, triggers, deletes, secrets, errors, host keys).

Every test starts a throwaway sshd on 127.0.0.1 (tests/engine/sshd.py) and runs
`pulumi up`/`destroy` of tests/engine/programs/ssh_commands with the provider
that `tools/pulumi-toolchain install` builds from the upstream archives."""

import json
import re

import pytest

from engine_helpers import PROGRAMS, REPO, EngineStack, Secret
from sshd import free_port

pytestmark = pytest.mark.engine

PROGRAM = PROGRAMS / "ssh_commands"
PROJECT = "ssh-commands"
STACK = "lab"
SECRET = "s3cr3t-stdin-Pa55-9f2d41"
SECRET_SIG = "4dabf18193072939515e22adb298388d"


def config_for(sshd, workdir, **extra):
    cfg = {
        "host": sshd.host,
        "port": sshd.port,
        "user": sshd.user,
        "privateKey": Secret(sshd.private_key),
        "dir": str(workdir),
        "payload": "hello from stdin\n",
    }
    cfg.update(extra)
    return cfg


def urn(name, type_="command:remote:Command"):
    return f"urn:pulumi:{STACK}::{PROJECT}::{type_}::{name}"


def lines(path):
    return path.read_text().splitlines() if path.exists() else []


def command_urns(stack):
    return [r["urn"] for r in stack.resources() if r["type"].startswith("command:remote:")]


@pytest.fixture
def workdir(tmp_path):
    d = tmp_path / "target"
    d.mkdir()
    return d


def test_up_runs_commands_on_the_host_and_second_up_changes_nothing(sshd, workdir, engine_stack):
    stack = engine_stack(PROGRAM, STACK)
    cfg = config_for(sshd, workdir)

    first = stack.up(cfg)
    assert first.summary == {"create": 3}
    assert (workdir / "file.txt").read_text() == "hello from stdin\n"
    # stdout/stderr captured, one trailing newline trimmed; the environment reached the command.
    assert first.outputs["writerStdout"].value == "wrote"
    assert first.outputs["writerStderr"].value == "to-stderr"
    assert first.outputs["readerStdout"].value == "greeting=hello\n17"
    assert lines(workdir / "writer.count") == ["run"]
    assert lines(workdir / "reader.count") == ["run"]
    # Output lines went to the engine as status lines of their resource (like upstream).
    diags = [json.loads(e)["diagnostic_event"] for e in first.events_json.splitlines()]
    assert {"urn": urn("writer"), "message": "wrote\n", "ephemeral": True} in [
        {k: d[k] for k in ("urn", "message", "ephemeral")} for d in diags if d
    ]
    # The reader ran after the writer (it read the file the writer wrote).
    assert sorted(command_urns(stack)) == [urn("reader"), urn("writer")]

    second = stack.up(cfg)
    assert second.summary == {"same": 3}
    assert lines(workdir / "writer.count") == ["run"]
    assert lines(workdir / "reader.count") == ["run"]


def test_changed_stdin_updates_and_changed_triggers_replace(sshd, workdir, engine_stack):
    stack = engine_stack(PROGRAM, STACK)
    stack.up(config_for(sshd, workdir))

    # stdin changed: an in-place update that re-runs `create` with the previous stdout in env.
    updated = stack.up(config_for(sshd, workdir, payload="second payload\n"))
    assert updated.summary == {"update": 1, "same": 2}
    assert (workdir / "file.txt").read_text() == "second payload\n"
    assert lines(workdir / "writer.count") == ["run", "run"]
    assert lines(workdir / "writer.log") == ["prev=", "prev=wrote"]
    assert lines(workdir / "reader.count") == ["run"]  # reader's inputs did not change
    assert not (workdir / "writer.deleted").exists()

    # triggers changed: replace = create the new one, then delete the old one.
    replaced = stack.up(config_for(sshd, workdir, payload="second payload\n", trigger="t2"))
    assert replaced.summary == {"replace": 1, "same": 2}
    assert lines(workdir / "writer.count") == ["run", "run", "run"]
    assert lines(workdir / "writer.deleted") == ["deleted prev=wrote"]
    # The delete of the old writer ran after the new one's create: the file is gone.
    assert not (workdir / "file.txt").exists()


def test_sdk_command_that_stops_what_it_started_is_restarted_in_place_on_a_change(
        sshd, workdir, engine_stack):
    """remote.run with triggers and a delete (units it starts and stops, e.g. keystone on one
    node): a changed trigger runs create again as an update; the delete (stop) does not run,
    neither after the new create (units left stopped) nor before it (units down longer)."""
    stack = engine_stack(PROGRAM, STACK)
    sdk = {"mode": "sdk", "sdkPath": str(REPO)}
    stack.up(config_for(sshd, workdir, **sdk))
    changed = stack.up(config_for(sshd, workdir, trigger="t2", **sdk))
    assert changed.summary == {"update": 1, "same": 2}  # the stack and the holder
    assert lines(workdir / "unit.log") == ["start", "start"]
    assert stack.up(config_for(sshd, workdir, trigger="t2", **sdk)).summary == {"same": 3}
    stack.destroy(config_for(sshd, workdir, trigger="t2", **sdk))
    assert lines(workdir / "unit.log") == ["start", "start", "stop"]


def test_sdk_pins_the_host_key_and_a_changed_key_fails_up_naming_the_host(sshd, workdir, engine_stack,
                                                                         tmp_path):
    """hosts[].ssh.host_key reaches pulumi-command's hostKey through ha_components.remote: the
    right key converges, another key fails `up` before anything runs there."""
    from pulumi.automation import CommandError
    import subprocess

    sdk = {"mode": "sdk", "sdkPath": str(REPO)}
    stack = engine_stack(PROGRAM, STACK)
    assert stack.up(config_for(sshd, workdir, hostKey=sshd.host_public_key, **sdk)).summary["create"] == 3
    assert lines(workdir / "unit.log") == ["start"]
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    other = (tmp_path / "other.pub").read_text().strip()
    with pytest.raises(CommandError) as err:
        engine_stack(PROGRAM, "other").up(config_for(sshd, workdir, hostKey=other, **sdk))
    text = str(err.value)
    assert "host key mismatch" in text and "target-unit" in text, text[-2000:]
    assert lines(workdir / "unit.log") == ["start"]  # nothing ran with the wrong key


def test_destroy_runs_the_delete_command(sshd, workdir, engine_stack):
    stack = engine_stack(PROGRAM, STACK)
    stack.up(config_for(sshd, workdir))
    assert (workdir / "file.txt").exists()

    result = stack.destroy(config_for(sshd, workdir))
    assert result.summary == {"delete": 3}
    assert lines(workdir / "writer.deleted") == ["deleted prev=wrote"]
    assert not (workdir / "file.txt").exists()
    assert command_urns(stack) == []


def test_failing_command_fails_up_names_resource_and_status_and_is_not_recorded(sshd, workdir, engine_stack):
    from pulumi.automation import CommandError

    stack = engine_stack(PROGRAM, STACK)
    with pytest.raises(CommandError) as err:
        stack.up(config_for(sshd, workdir, mode="fail"))
    message = str(err.value)
    assert "Process exited with status 3" in message
    # upstream's error does not name the host: the resource's name does (the SDK's names carry it)
    assert "command:remote:Command (failing)" in message
    assert "something broke" in message
    assert lines(workdir / "failing.count") == ["run"]
    assert urn("failing") not in command_urns(stack)

    # Nothing was recorded, so the next up tries to create it again.
    with pytest.raises(CommandError):
        stack.up(config_for(sshd, workdir, mode="fail"))
    assert lines(workdir / "failing.count") == ["run", "run"]


def test_secret_stdin_stays_out_of_engine_output_and_state(sshd, workdir, engine_stack):
    stack = engine_stack(PROGRAM, STACK)
    result = stack.up(config_for(sshd, workdir, payload=Secret(SECRET), secretPayload=True))

    assert (workdir / "file.txt").read_text() == SECRET
    assert SECRET not in result.engine_output
    files = stack.state_files()
    assert any(p.name == f"{STACK}.json" for p in files)
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path
    writer = next(r for r in stack.resources() if r["urn"] == urn("writer"))
    # stdin is kept as a secret in both inputs and outputs of the state.
    assert SECRET_SIG in json.dumps(writer["inputs"]["stdin"])
    assert SECRET_SIG in json.dumps(writer["outputs"]["stdin"])
    assert SECRET_SIG in json.dumps(writer["outputs"]["connection"])


def test_closed_port_fails_after_the_dial_limit_naming_host_and_port(sshd, workdir, engine_stack):
    from pulumi.automation import CommandError

    closed = free_port()
    stack = engine_stack(PROGRAM, STACK)
    with pytest.raises(CommandError) as err:
        stack.up(config_for(sshd, workdir, mode="closed", closedPort=closed))
    message = str(err.value)
    assert f"127.0.0.1:{closed}" in message
    # dialErrorLimit=3: three dials; upstream counts the retries after the first in its text
    assert re.search(r"after 2 failed attempts: dial tcp", message), message
    assert "connection refused" in message
    assert urn("unreachable") not in command_urns(stack)


def test_sdk_commands_survive_sshd_maxstartups_when_their_first_dials_arrive_at_once(sshd, workdir, tmp_path):
    """Upstream dials one connection per command: at high engine parallelism more than
    sshd's MaxStartups (default 10:30:100) are unauthenticated at once and sshd drops
    some. The SDK's connection (remote.connect: dial_error_limit, per_dial_timeout) must
    retry through that; every command runs exactly once."""
    count = 60
    stack = EngineStack(PROGRAM, STACK, tmp_path / "engine", env={"PULUMI_PARALLEL": str(count)})
    result = stack.up(config_for(sshd, workdir, mode="sdk-burst", sdkPath=str(REPO), count=count))
    assert result.summary == {"create": count + 2}  # the stack and the holder
    assert sorted(int(x) for x in lines(workdir / "burst.count")) == list(range(count))
    dropped = sshd.log.read_text().count("past MaxStartups")
    print(f"\n{count} first dials at once: sshd dropped {dropped} (retried by the provider)")


def test_many_commands_on_one_host(sshd, workdir, engine_stack):
    stack = engine_stack(PROGRAM, STACK)
    result = stack.up(config_for(sshd, workdir, mode="many", count=12))
    assert result.summary == {"create": 13}
    assert sorted(int(x) for x in lines(workdir / "many.count")) == list(range(12))


def test_proxy_connection(sshd, workdir, engine_stack):
    stack = engine_stack(PROGRAM, STACK)
    result = stack.up(config_for(sshd, workdir, mode="proxy"))
    assert result.summary == {"create": 2}
    assert lines(workdir / "proxy.count") == ["proxied"]


def test_host_key_is_checked_when_given(sshd, workdir, engine_stack, tmp_path):
    from pulumi.automation import CommandError

    stack = engine_stack(PROGRAM, STACK)
    result = stack.up(config_for(sshd, workdir, mode="hostKey", hostKey=sshd.host_public_key))
    assert result.summary == {"create": 2}
    assert lines(workdir / "pinned.count") == ["pinned"]

    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    other = (tmp_path / "other.pub").read_text().strip()
    stack2 = engine_stack(PROGRAM, "other")
    with pytest.raises(CommandError) as err:
        stack2.up(config_for(sshd, workdir, mode="hostKey", hostKey=other))
    assert "host key mismatch" in str(err.value)
    assert lines(workdir / "pinned.count") == ["pinned"]


def test_local_command(engine_stack, workdir):
    stack = engine_stack(PROGRAM, STACK)
    cfg = {"dir": str(workdir), "mode": "local", "payload": "local stdin\n", "host": "unused", "port": 1,
           "user": "unused", "privateKey": Secret("unused")}
    result = stack.up(cfg)
    assert result.summary == {"create": 2}
    assert (workdir / "local.txt").read_text() == "local stdin\n"
    assert result.outputs["localStdout"].value == f"dir={workdir} greeting=hi"
    assert stack.up(cfg).summary == {"same": 2}
    stack.destroy(cfg)
    assert lines(workdir / "local.deleted") == [f"deleted prev=dir={workdir} greeting=hi"]
