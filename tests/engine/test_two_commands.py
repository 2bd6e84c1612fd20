"""The real Pulumi engine previews (and, where no host is touched, deploys) a
minimal pulumi_command program: type tokens, URNs, dependencies, secrets."""

from collections import Counter

import pytest

from engine_helpers import PROGRAMS, Secret, toolchain_env

pytestmark = pytest.mark.engine

PROGRAM = PROGRAMS / "two_commands"
PROJECT = "two-commands"
STACK = "lab"
SECRET = "s3cr3t-db-Pa55word-7c1e"


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker for a secret value


def is_masked_secret(value) -> bool:
    return isinstance(value, dict) and SECRET_SIG in value and value.get("ciphertext") == "[secret]"


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::{PROJECT}::{type_}::{name}"


def test_preview_plans_two_remote_commands_and_the_stack(engine_preview):
    result = engine_preview(PROGRAM, STACK, {"dbPassword": Secret(SECRET)})

    commands = result.creates("command:remote:Command")
    assert sorted(s.urn for s in commands) == [
        urn("command:remote:Command", "first"),
        urn("command:remote:Command", "second"),
    ]
    stacks = result.creates("pulumi:pulumi:Stack")
    assert [s.urn for s in stacks] == [urn("pulumi:pulumi:Stack", f"{PROJECT}-{STACK}")]
    # Every planned create, by type: the default provider shows up in the event
    # stream (the CLI's change summary does not count it).
    assert Counter(s.type for s in result.creates()) == {
        "pulumi:pulumi:Stack": 1,
        "pulumi:providers:command": 1,
        "command:remote:Command": 2,
    }
    assert result.change_summary == {"create": 3}

    first, second = result.by_name("first"), result.by_name("second")
    assert first.parent == stacks[0].urn
    assert first.provider.startswith(f"urn:pulumi:{STACK}::{PROJECT}::pulumi:providers:command::default_1_2_1::")
    assert first.dependencies == []
    assert second.dependencies == [first.urn]


def test_preview_with_secret_config_does_not_leak_it(engine_preview):
    result = engine_preview(PROGRAM, STACK, {"dbPassword": Secret(SECRET)})

    second = result.by_name("second")
    # The secret reaches the Command's environment, but only as a secret.
    assert is_masked_secret(second.inputs["environment"]["DB_PASSWORD"])
    assert is_masked_secret(result.by_name("first").inputs["connection"])

    assert SECRET not in result.engine_output
    assert SECRET not in (result.work_dir / f"Pulumi.{STACK}.yaml").read_text()
    for path in result.state_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_up_keeps_secret_out_of_engine_output_and_state(engine_up):
    result = engine_up(PROGRAM, STACK, {"dbPassword": Secret(SECRET), "mode": "local-only"})

    assert result.summary == {"create": 1}
    # Automation API decrypts outputs on request; the engine kept them secret.
    assert result.outputs["secretValue"].secret is True
    assert result.outputs["secretValue"].value == SECRET
    assert result.outputs["secretLength"].value == len(SECRET)

    assert SECRET not in result.engine_output
    assert "[secret]" in result.stdout
    files = result.state_files()
    checkpoints = [p for p in files if p.name == f"{STACK}.json"]
    assert checkpoints, [str(p) for p in files]
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path
    # The stack output is stored as an encrypted secret (Pulumi's secret signature).
    assert SECRET_SIG in checkpoints[0].read_text()


def test_up_against_an_unreachable_host_fails_naming_it(engine_up):
    """The command plugin really connects (it is no preview-only stand-in): an
    `up` whose host does not answer fails with the host:port, never pretends."""
    from pulumi.automation import CommandError

    from sshd import free_port

    port = free_port()
    with pytest.raises(CommandError) as err:
        engine_up(PROGRAM, STACK, {"dbPassword": Secret(SECRET), "port": port, "dialErrorLimit": 0})
    message = str(err.value)
    assert f"127.0.0.1:{port}" in message
    assert "connection refused" in message
    assert "preview-only" not in message
    assert SECRET not in message


def test_missing_toolchain_fails_with_install_hint(monkeypatch, tmp_path):
    monkeypatch.setenv("HA_TOOLCHAIN_DIR", str(tmp_path / "no-toolchain"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(pytest.fail.Exception) as err:
        toolchain_env()
    assert "tools/pulumi-toolchain install" in str(err.value)
