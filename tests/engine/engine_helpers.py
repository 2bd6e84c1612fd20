"""engine_helpers: run the real Pulumi engine (CLI + language host + command plugin).

Everything runs offline against a local file backend in a temporary directory,
with the toolchain built by ``tools/pulumi-toolchain install``. If that
toolchain is missing the engine tests FAIL (they never skip): the point of the
``engine`` marker is that CI proves the real engine accepts our programs.

Reusable API (fixtures wrap these for tests):

    preview_stack(project_dir, stack_name, config=None, env=None) -> EnginePreview
    up_stack(project_dir, stack_name, config=None, env=None)      -> EngineUp
    destroy_stack(project_dir, stack_name, config=None, env=None) -> EngineDestroy
    EngineStack(project_dir, stack_name, root)  .up() .preview() .destroy() .resources()

``config`` is either a dict (``{"key": "value", "pw": Secret("x")}``; keys
without a namespace get the project's) or the path of a ``Pulumi.<stack>.yaml``
style stack config file. ``env`` adds/overrides environment variables for the
CLI. Lab stacks use the public fixed passphrase ``ha-openstack-lab`` unless
``env`` sets ``PULUMI_CONFIG_PASSPHRASE``.

Fixtures (tests/engine/conftest.py): ``engine_env`` (fails when the toolchain
is missing), ``engine_preview`` and ``engine_up`` (the functions above, run in
the test's tmp_path). A later "preview every stack in stacks/" test can be::

    @pytest.mark.parametrize("stack_file", sorted((REPO / "stacks").glob("Pulumi.*.yaml")))
    def test_stack_previews(engine_preview, stack_file):
        name = stack_file.name[len("Pulumi."):-len(".yaml")]
        result = engine_preview(REPO, name, stack_file)
        assert result.creates()
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TOOLCHAIN = REPO / "tools" / "pulumi-toolchain"
PROGRAMS = Path(__file__).resolve().parent / "programs"

#: Public, fixed passphrase for lab/test stacks. Never used for production stacks,
#: which take PULUMI_CONFIG_PASSPHRASE from the operator's environment.
LAB_PASSPHRASE = "ha-openstack-lab"

INSTALL_HINT = "run `tools/pulumi-toolchain install` (then optionally `eval \"$(tools/pulumi-toolchain env)\"`)"

# Files and folders never copied into the throwaway work dir.
_COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".pytest_cache", "*.egg-info", "build", "dist", "out")


@dataclass(frozen=True)
class Secret:
    """Marks a config value as secret in a ``config`` dict."""

    value: str


@dataclass
class Step:
    op: str
    urn: str
    type: str
    name: str
    provider: str = ""
    parent: str = ""
    dependencies: list[str] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class EnginePreview:
    steps: list[Step]
    change_summary: dict[str, int]
    stdout: str
    stderr: str
    events_json: str
    plan: dict[str, Any]
    work_dir: Path
    state_dir: Path
    seconds: float

    def creates(self, type_: Optional[str] = None) -> list[Step]:
        return [s for s in self.steps if s.op == "create" and (type_ is None or s.type == type_)]

    def by_name(self, name: str, type_: Optional[str] = None) -> Step:
        found = [s for s in self.steps if s.name == name and (type_ is None or s.type == type_)]
        assert len(found) == 1, f"expected one step named {name!r}, got {[s.urn for s in found]}"
        return found[0]

    @property
    def urns(self) -> list[str]:
        return [s.urn for s in self.steps]

    @property
    def engine_output(self) -> str:
        """Everything the engine said: CLI stdout/stderr and the JSON event stream."""
        return "\n".join([self.stdout, self.stderr, self.events_json])


@dataclass
class EngineUp:
    summary: dict[str, int]
    outputs: dict[str, Any]
    stdout: str
    stderr: str
    events_json: str
    work_dir: Path
    state_dir: Path
    seconds: float

    @property
    def engine_output(self) -> str:
        return "\n".join([self.stdout, self.stderr, self.events_json])

    def state_files(self) -> list[Path]:
        return [p for p in self.state_dir.rglob("*") if p.is_file()]


def toolchain_env() -> dict[str, str]:
    """The environment `tools/pulumi-toolchain env` asks for, or pytest.fail()."""
    if not TOOLCHAIN.exists():
        pytest.fail(f"{TOOLCHAIN} is missing")
    exports = subprocess.run([str(TOOLCHAIN), "env"], capture_output=True, text=True, cwd=REPO)
    if exports.returncode != 0:
        pytest.fail(
            f"The Pulumi toolchain is not available: {exports.stderr.strip()}\nTo fix: {INSTALL_HINT}",
            pytrace=False,
        )
    proc = subprocess.run(
        ["bash", "-c", 'eval "$1" && env -0', "bash", exports.stdout],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    env = dict(item.split("=", 1) for item in proc.stdout.split("\0") if "=" in item)
    pulumi = shutil.which("pulumi", path=env.get("PATH"))
    if not pulumi:
        pytest.fail(f"`pulumi` is not on the toolchain PATH. To fix: {INSTALL_HINT}", pytrace=False)
    for needed in ("pulumi-language-python", "pulumi-language-python-exec"):
        if not (Path(pulumi).parent / needed).exists() and not shutil.which(needed, path=env.get("PATH")):
            pytest.fail(f"`{needed}` is missing next to {pulumi}. To fix: {INSTALL_HINT}", pytrace=False)
    return env


def _project_settings(project_dir: Path) -> dict[str, Any]:
    for name in ("Pulumi.yaml", "Pulumi.yml"):
        if (project_dir / name).exists():
            return yaml.safe_load((project_dir / name).read_text()) or {}
    raise FileNotFoundError(f"no Pulumi.yaml in {project_dir}")


def completed_steps(events_json: str) -> list[tuple[str, str]]:
    """(op, urn) of every step the engine finished, in the order it finished them."""
    steps = []
    for line in events_json.splitlines():
        done = (json.loads(line).get("res_outputs_event") or {}).get("metadata")
        if done:
            steps.append((done["op"], done["urn"]))
    return steps


def _events_json(events: list[Any]) -> str:
    def default(o: Any) -> Any:
        if hasattr(o, "__dict__"):
            return vars(o)
        return str(o)

    return "\n".join(json.dumps(e, default=default, sort_keys=True) for e in events)


class _Workspace:
    """A copy of the project in a temp dir, a fresh local backend, and a selected stack."""

    def __init__(
        self,
        project_dir: Union[str, Path],
        stack_name: str,
        config: Union[None, Mapping[str, Any], str, Path],
        env: Optional[Mapping[str, str]],
        root: Optional[Path],
    ):
        from pulumi import automation as auto

        self.auto = auto
        project_dir = Path(project_dir).resolve()
        settings = _project_settings(project_dir)
        self.project = settings["name"]
        root = Path(root) if root else Path(tempfile.mkdtemp(prefix="ha-engine-"))
        self.work_dir = root / "project"
        self.state_dir = root / "state"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(project_dir, self.work_dir, ignore=_COPY_IGNORE, dirs_exist_ok=True)

        full_env = toolchain_env()
        full_env["PULUMI_BACKEND_URL"] = f"file://{self.state_dir}"
        # Tests never inherit an operator's passphrase: lab passphrase unless `env` says otherwise.
        full_env["PULUMI_CONFIG_PASSPHRASE"] = LAB_PASSPHRASE
        full_env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
        full_env.update(env or {})
        self.env = full_env

        if isinstance(config, (str, Path)):
            config_dir = self.work_dir / settings.get("stackConfigDir", ".")
            config_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(config, config_dir / f"Pulumi.{stack_name}.yaml")

        pulumi_bin = Path(shutil.which("pulumi", path=full_env["PATH"]))
        cmd = auto.PulumiCommand(root=str(pulumi_bin.parent.parent))
        opts = auto.LocalWorkspaceOptions(
            work_dir=str(self.work_dir),
            pulumi_home=full_env.get("PULUMI_HOME"),
            env_vars=full_env,
            pulumi_command=cmd,
        )
        self.stack = auto.create_or_select_stack(stack_name=stack_name, work_dir=str(self.work_dir), opts=opts)

        if isinstance(config, Mapping) and config:
            values = {}
            for key, value in config.items():
                full_key = key if ":" in key else f"{self.project}:{key}"
                if isinstance(value, Secret):
                    values[full_key] = auto.ConfigValue(value=str(value.value), secret=True)
                else:
                    text = value if isinstance(value, str) else json.dumps(value)
                    values[full_key] = auto.ConfigValue(value=text, secret=False)
            self.stack.set_all_config(values)


def preview_stack(
    project_dir: Union[str, Path],
    stack_name: str,
    config: Union[None, Mapping[str, Any], str, Path] = None,
    env: Optional[Mapping[str, str]] = None,
    *,
    root: Optional[Path] = None,
) -> EnginePreview:
    """Run a real `pulumi preview` of the program in project_dir and return its planned steps."""
    ws = _Workspace(project_dir, stack_name, config, env, root)
    events: list[Any] = []
    plan_path = ws.work_dir.parent / "plan.json"
    start = time.monotonic()
    result = ws.stack.preview(on_event=events.append, plan=str(plan_path), color="never")
    seconds = time.monotonic() - start
    plan = json.loads(plan_path.read_text()) if plan_path.exists() else {}
    goals = {urn: rp.get("goal") or {} for urn, rp in plan.get("resourcePlans", {}).items()}

    steps = []
    for ev in events:
        pre = getattr(ev, "resource_pre_event", None)
        if pre is None:
            continue
        meta = pre.metadata
        state = meta.new or meta.old
        urn = meta.urn
        goal = goals.get(urn, {})
        steps.append(
            Step(
                op=str(getattr(meta.op, "value", meta.op)),
                urn=urn,
                type=meta.type,
                name=urn.split("::")[-1],
                provider=meta.provider or "",
                parent=(state.parent if state else "") or "",
                dependencies=list(goal.get("dependencies") or []),
                inputs=dict((state.inputs if state else None) or {}),
            )
        )
    return EnginePreview(
        steps=steps,
        change_summary={str(getattr(k, "value", k)): v for k, v in (result.change_summary or {}).items()},
        stdout=result.stdout,
        stderr=result.stderr,
        events_json=_events_json(events),
        plan=plan,
        work_dir=ws.work_dir,
        state_dir=ws.state_dir,
        seconds=seconds,
    )


def up_stack(
    project_dir: Union[str, Path],
    stack_name: str,
    config: Union[None, Mapping[str, Any], str, Path] = None,
    env: Optional[Mapping[str, str]] = None,
    *,
    root: Optional[Path] = None,
) -> EngineUp:
    """Run a real `pulumi up` (local file backend). Calling it again with the same ``root``
    updates the same stack (a second `up`)."""
    return _ws_up(_Workspace(project_dir, stack_name, config, env, root))


@dataclass
class EngineDestroy:
    summary: dict[str, int]
    stdout: str
    stderr: str
    events_json: str
    seconds: float

    @property
    def engine_output(self) -> str:
        return "\n".join([self.stdout, self.stderr, self.events_json])


def _ws_up(ws: _Workspace) -> EngineUp:
    events: list[Any] = []
    start = time.monotonic()
    result = ws.stack.up(on_event=events.append, color="never")
    seconds = time.monotonic() - start
    return EngineUp(
        summary={str(k): v for k, v in (result.summary.resource_changes or {}).items()},
        outputs={k: v for k, v in result.outputs.items()},
        stdout=result.stdout,
        stderr=result.stderr,
        events_json=_events_json(events),
        work_dir=ws.work_dir,
        state_dir=ws.state_dir,
        seconds=seconds,
    )


def destroy_stack(
    project_dir: Union[str, Path],
    stack_name: str,
    config: Union[None, Mapping[str, Any], str, Path] = None,
    env: Optional[Mapping[str, str]] = None,
    *,
    root: Optional[Path] = None,
) -> EngineDestroy:
    """Run a real `pulumi destroy` of the stack kept under ``root`` (from an earlier up_stack)."""
    ws = _Workspace(project_dir, stack_name, config, env, root)
    events: list[Any] = []
    start = time.monotonic()
    result = ws.stack.destroy(on_event=events.append, color="never")
    seconds = time.monotonic() - start
    return EngineDestroy(
        summary={str(k): v for k, v in (result.summary.resource_changes or {}).items()},
        stdout=result.stdout,
        stderr=result.stderr,
        events_json=_events_json(events),
        seconds=seconds,
    )


class EngineStack:
    """One stack, kept across several engine runs (same work dir and local backend).

    ``up()`` a second time reports the engine's change summary for the second
    run (``{"same": N}`` when nothing changed); ``destroy()`` tears it down;
    ``resources()`` reads the checkpoint (``pulumi stack export``)."""

    def __init__(self, project_dir, stack_name, root: Path, env: Optional[Mapping[str, str]] = None):
        self.project_dir = Path(project_dir)
        self.stack_name = stack_name
        self.root = Path(root)
        self.env = dict(env or {})

    def _ws(self, config) -> _Workspace:
        return _Workspace(self.project_dir, self.stack_name, config, self.env, self.root)

    def up(self, config=None) -> EngineUp:
        return _ws_up(self._ws(config))

    def preview(self, config=None) -> EnginePreview:
        return preview_stack(self.project_dir, self.stack_name, config, self.env, root=self.root)

    def destroy(self, config=None) -> EngineDestroy:
        return destroy_stack(self.project_dir, self.stack_name, config, self.env, root=self.root)

    def config(self, config=None) -> dict[str, Any]:
        """The stack's config as `pulumi config --show-secrets --json` gives it: key -> value.
        Pass the stack file of the last `up` when it is not the project's own (each workspace
        copies the project, its stacks/ included, again)."""
        return {k: v.value for k, v in self._ws(config).stack.get_all_config().items()}

    def set_secret(self, path: str, value: str, config=None) -> Path:
        """`pulumi config set --path --secret PATH` with the value on stdin (never on a command
        line); returns the stack file it wrote, whose `secure:` value any stack with the same
        encryptionsalt and passphrase decrypts."""
        ws = self._ws(config)
        subprocess.run(["pulumi", "config", "set", "--path", "--secret", f"{ws.project}:{path}",
                        "--stack", self.stack_name], input=value, cwd=ws.work_dir, env=ws.env,
                       capture_output=True, text=True, check=True)
        config_dir = _project_settings(ws.work_dir).get("stackConfigDir", ".")
        return ws.work_dir / config_dir / f"Pulumi.{self.stack_name}.yaml"

    def export_text(self) -> str:
        """`pulumi stack export` as an operator runs it, without --show-secrets (the automation
        API's export_stack always shows them)."""
        ws = self._ws(None)
        done = subprocess.run(["pulumi", "stack", "export", "--stack", self.stack_name], cwd=ws.work_dir,
                              env=ws.env, capture_output=True, text=True, check=True)
        return done.stdout

    def resources(self) -> list[dict[str, Any]]:
        deployment = self._ws(None).stack.export_stack().deployment or {}
        return list(deployment.get("resources") or [])

    def pending_operations(self) -> list[dict[str, Any]]:
        deployment = self._ws(None).stack.export_stack().deployment or {}
        return list(deployment.get("pending_operations") or deployment.get("pendingOperations") or [])

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    def state_files(self) -> list[Path]:
        return [p for p in self.state_dir.rglob("*") if p.is_file()]
