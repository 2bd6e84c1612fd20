"""The package from another language: the schema the real CLI gets from provider/, and a real
`pulumi preview` of the YAML program in examples/lab-aa-yaml (the lab's active/active stack).

The YAML program must plan what the Python program plans for stacks/Pulumi.lab-aa.yaml: the
same commands, each under a component, every component under the topology.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from engine_helpers import LAB_PASSPHRASE, REPO
from ha_components.dryrun import record
from ha_components.package.host import schema_properties
from ha_components.stackfile import load_stack_file
from ha_components.types import Token

pytestmark = pytest.mark.engine

EXAMPLE = REPO / "examples" / "lab-aa-yaml"
SERVED = {Token.PACEMAKER_CLUSTER, Token.GALERA_CLUSTER, Token.RABBIT_HA_CLUSTER,
          Token.ACTIVE_ACTIVE_TOPOLOGY, Token.ACTIVE_PASSIVE_TOPOLOGY}


def test_cli_reads_the_package_schema_from_provider_dir_without_any(engine_env) -> None:
    # `./provider`, not `provider`: a bare name is looked up in the Pulumi registry.
    out = subprocess.run(["pulumi", "package", "get-schema", "./provider"], cwd=REPO, env=engine_env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    schema = json.loads(out.stdout)
    assert schema["name"] == "ha-openstack"
    assert set(schema["resources"]) == {t.value for t in SERVED}
    props = list(schema_properties(schema))
    assert len(props) > 150
    assert not [w for w, p in props if p.get("$ref") == "pulumi.json#/Any" or ("type" not in p and "$ref" not in p)]
    assert schema["resources"][Token.ACTIVE_ACTIVE_TOPOLOGY]["requiredInputs"] == ["hosts", "networks", "pacemaker"]


def _example_copy(tmp_path: Path) -> Path:
    """The example with its `packages:` path made absolute (the engine helpers run a copy)."""
    copy = tmp_path / "lab-aa-yaml"
    shutil.copytree(EXAMPLE, copy)
    project = yaml.safe_load((copy / "Pulumi.yaml").read_text())
    assert project["runtime"] == "yaml" and project["packages"] == {"ha-openstack": "../../provider"}
    project["packages"]["ha-openstack"] = str(REPO / "provider")
    (copy / "Pulumi.yaml").write_text(yaml.safe_dump(project))
    return copy


def test_yaml_program_plans_what_the_python_program_plans_for_lab_aa(engine_preview, engine_env, tmp_path: Path) -> None:
    project = _example_copy(tmp_path)
    result = engine_preview(project, "lab-aa", project / "Pulumi.lab-aa.yaml")
    assert "error" not in result.stderr.lower(), result.stderr

    expected = {name for name, _ in record(load_stack_file(REPO / "stacks" / "Pulumi.lab-aa.yaml"))}
    commands = result.creates(Token.REMOTE_COMMAND)
    assert {c.name for c in commands} == expected
    topology = result.by_name("lab", Token.ACTIVE_ACTIVE_TOPOLOGY)
    components = {s.urn: s for s in result.creates() if s.type in {t.value for t in Token} - {Token.REMOTE_COMMAND}}
    for command in commands:
        assert command.parent in components, f"{command.name} is not under a component"
    for component in components.values():
        if component is not topology:
            assert component.parent == topology.urn, f"{component.name} is not under the topology"
    kinds = sorted(c.type for c in components.values())
    assert kinds.count(Token.PACEMAKER_CLUSTER) == kinds.count(Token.GALERA_CLUSTER) == 1
    assert result.change_summary == {"create": len(commands) + len(components) + 1}  # + the stack
    # The YAML stack's secrets (config values) reach the commands but never the engine's output.
    env = {**engine_env, "PULUMI_BACKEND_URL": f"file://{result.state_dir}", "PULUMI_CONFIG_PASSPHRASE": LAB_PASSPHRASE}
    shown = subprocess.run(["pulumi", "config", "--show-secrets", "--json", "--stack", "lab-aa"], cwd=result.work_dir,
                           env=env, capture_output=True, text=True, check=True)
    secrets = [v["value"] for v in json.loads(shown.stdout).values() if v.get("secret")]
    assert len(secrets) == 15
    assert not [s for s in secrets if s in result.engine_output]
    print(f"YAML program preview: {len(commands)} commands, {result.seconds:.1f} s")
