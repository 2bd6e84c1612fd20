"""Team state in PostgreSQL: the DIY backend's `postgres://` URL with the real CLI.

Two checkouts of one program (ssh_commands in its local-only mode: a local command, no host)
share one stack in the database. The database comes from tools/test-postgres (run by .ci/run);
HA_OPENSTACK_TEST_POSTGRES_URL points elsewhere. Each test gets its own table (`?table=`).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from engine_helpers import LAB_PASSPHRASE, PROGRAMS

pytestmark = pytest.mark.engine

PROGRAM = PROGRAMS / "ssh_commands"
STACK = "team"
DEFAULT_URL = "postgres://ha_pulumi_test:ha-pulumi-test@127.0.0.1:5432/ha_pulumi_test?sslmode=disable"
SECRET = "team-state-Secret-9f2d71"
LOCKED = "the stack is currently locked by 1 lock(s)"


def _psql(url: str, sql: str) -> list[str]:
    done = subprocess.run(["psql", url, "-Atc", sql], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip())
    return done.stdout.splitlines()


@pytest.fixture
def state_db(engine_env) -> Iterator[tuple[str, str, str]]:
    """(backend URL with a fresh table, libpq URL of the database, table)."""
    url = os.environ.get("HA_OPENSTACK_TEST_POSTGRES_URL", DEFAULT_URL)
    try:
        _psql(url, "SELECT 1")
    except (RuntimeError, FileNotFoundError) as err:
        pytest.fail(f"no PostgreSQL for the team-state test at {url.split('@')[-1]} ({err}); "
                    "start one with `tools/test-postgres`", pytrace=False)
    table = f"pulumi_state_{uuid.uuid4().hex[:10]}"
    yield f"{url}&table={table}", url, table
    _psql(url, f"DROP TABLE IF EXISTS {table}")


class Checkout:
    """One team member's copy of the project, logged in to the shared database."""

    def __init__(self, path: Path, env: dict[str, str]):
        self.path, self.env = path, env

    def pulumi(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["pulumi", *args, "--stack", STACK, "--non-interactive"], cwd=self.path,
                              env=self.env, capture_output=True, text=True)
        if check and done.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def up(self, payload: str) -> subprocess.Popen[str]:
        self.pulumi("config", "set", "payload", payload)
        return subprocess.Popen(["pulumi", "up", "--yes", "--skip-preview", "--stack", STACK,
                                 "--non-interactive", "--color", "never"], cwd=self.path, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def export(self) -> dict:
        return json.loads(self.pulumi("stack", "export").stdout)


def _team(tmp_path: Path, engine_env: dict[str, str], backend: str) -> tuple[Checkout, Checkout]:
    """Member a creates the stack; member b clones the project with its Pulumi.team.yaml."""
    env = {**engine_env, "PULUMI_BACKEND_URL": backend, "PULUMI_CONFIG_PASSPHRASE": LAB_PASSPHRASE}
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    a = Checkout(tmp_path / "a", env)
    shutil.copytree(PROGRAM, a.path)
    subprocess.run(["pulumi", "stack", "init", STACK, "--non-interactive"], cwd=a.path, env=env, check=True,
                   capture_output=True)
    (tmp_path / "dir").mkdir()
    for key, value in {"mode": "local", "dir": str(tmp_path / "dir"), "host": "127.0.0.1",
                       "port": "22", "user": "root"}.items():
        a.pulumi("config", "set", key, value)
    a.pulumi("config", "set", "--secret", "privateKey", SECRET)
    b = Checkout(tmp_path / "b", env)
    shutil.copytree(a.path, b.path)
    return a, b


def _resources(deployment: dict) -> dict[str, dict]:
    return {r["urn"].split("::")[-1]: r for r in deployment["deployment"]["resources"]}


def test_up_keeps_state_in_postgres(state_db, engine_env, tmp_path) -> None:
    backend, url, table = state_db
    a, b = _team(tmp_path, engine_env, backend)
    start = time.monotonic()
    out, _ = a.up("one").communicate(timeout=300)
    print(f"first up: {time.monotonic() - start:.1f} s")
    assert "+ 2 created" in out, out

    keys = _psql(url, f"SELECT key FROM {table} ORDER BY key")
    assert any(k.endswith(".pulumi/stacks/ssh-commands/team.json") for k in keys), keys
    assert not any("/.pulumi/locks/" in k for k in keys)
    rows = "\n".join(_psql(url, f"SELECT convert_from(decode(data->>'data', 'base64'), 'UTF8') FROM {table}"))
    assert "command:local:Command" in rows and SECRET not in rows  # secrets stay ciphertext
    # The other member sees the same state through the database.
    state = _resources(b.export())
    assert sorted(r["type"] for r in state.values()) == [
        "command:local:Command", "pulumi:providers:command", "pulumi:pulumi:Stack"]
    assert state["local"]["inputs"]["stdin"] == "one"


def test_concurrent_ups_one_fails_on_the_lock(state_db, engine_env, tmp_path) -> None:
    backend, url, table = state_db
    a, b = _team(tmp_path, engine_env, backend)
    out, _ = a.up("one").communicate(timeout=300)
    assert "+ 2 created" in out, out

    # Member a's program starts 5 s late (sitecustomize), so a holds the lock while b starts.
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text("import time\ntime.sleep(5)\n")
    a.env = {**a.env, "PYTHONPATH": os.pathsep.join(filter(None, [str(slow), a.env.get("PYTHONPATH")]))}
    first = a.up("from-a")
    deadline = time.monotonic() + 60
    while not any("/.pulumi/locks/" in k for k in _psql(url, f"SELECT key FROM {table}")):
        assert time.monotonic() < deadline and first.poll() is None, "member a never took the lock"
        time.sleep(0.05)
    start = time.monotonic()
    second = b.up("from-b")
    second_out, _ = second.communicate(timeout=300)
    second_seconds = time.monotonic() - start
    first_out, _ = first.communicate(timeout=300)

    print(f"b failed after {second_seconds:.1f} s with:\n{second_out}")
    assert first.returncode == 0, first_out
    assert second.returncode != 0 and LOCKED in second_out, second_out
    assert "pulumi cancel" in second_out and "ha-pulumi-test" not in second_out  # password masked
    # The state is a's update, whole: it loads, three resources, no lock left behind.
    state = _resources(b.export())
    assert len(state) == 3 and state["local"]["inputs"]["stdin"] == "from-a"
    assert not any("/.pulumi/locks/" in k for k in _psql(url, f"SELECT key FROM {table}"))
    # Member b simply runs again once a is done.
    out, _ = b.up("from-b").communicate(timeout=300)
    assert "~ 1 updated" in out, out
    state = _resources(a.export())
    assert len(state) == 3 and state["local"]["inputs"]["stdin"] == "from-b"
    history = json.loads(a.pulumi("stack", "history", "--json").stdout)
    assert [h["result"] for h in history] == ["succeeded"] * 3  # b's refused run left no entry
