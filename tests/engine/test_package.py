"""The package from another language: the schema the real CLI gets from provider/, a real
`pulumi preview` of the YAML program in examples/lab-aa-yaml (the lab's active/active stack),
and one of a YAML program composing the components by reference (cluster, DRBD, service VIP).

The YAML program must plan what the Python program plans for stacks/Pulumi.lab-aa.yaml: the
same commands, each under a component, every component under the topology.
"""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine_helpers import LAB_PASSPHRASE, REPO
from ha_components.dryrun import record, record_program
from ha_components.package.components import DrbdVolume, OpenStackServiceVip, PacemakerCluster
from ha_components.package.host import schema_properties
from ha_components.stackfile import config_from_stack_file, load_stack_file
from ha_components.types import Token

pytestmark = pytest.mark.engine

EXAMPLE = REPO / "examples" / "lab-aa-yaml"
SERVED = set(Token) - {Token.REMOTE_COMMAND}  # the six components and the two topologies


def test_cli_reads_the_package_schema_from_provider_dir_without_any(engine_env) -> None:
    # `./provider`, not `provider`: a bare name is looked up in the Pulumi registry.
    out = subprocess.run(["pulumi", "package", "get-schema", "./provider"], cwd=REPO, env=engine_env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    schema = json.loads(out.stdout)
    assert schema["name"] == "ha-openstack"
    assert set(schema["resources"]) == {t.value for t in SERVED}
    props = list(schema_properties(schema))
    assert len(props) > 250
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


def _camel(value: Any) -> Any:
    """Stack data with the package's (camelCase) property names."""
    if isinstance(value, dict):
        return {(k.split("_")[0] + "".join(p.title() for p in k.split("_")[1:])): _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def test_yaml_program_composes_cluster_drbd_and_service_vip_by_reference(engine_preview, tmp_path: Path) -> None:
    """lab-ap's MySQL on DRBD as three resources of a YAML program: the volume and the group take
    the cluster (and the volume) as `{urn: ${x.urn}, spec, hosts}`; their commands depend on the
    referenced component, and they plan the commands the same classes plan in Python."""
    data = config_from_stack_file(REPO / "stacks" / "Pulumi.lab-ap.yaml")
    data["pacemaker"]["authkey"] = base64.b64encode(bytes(256)).decode()  # a preview: no secret needed
    hosts = [h for h in data["hosts"] if h["name"] in data["pacemaker"]["nodes"]]
    for h in hosts:
        h["ssh"]["host_key"] = [h["ssh"]["host_key"]]  # the schema's type: a list (the stack file takes one too)
    volume = next(v for v in data["drbd"] if v["name"] == "mysql")
    vol_hosts = [h for h in hosts if h["name"] in volume["nodes"]]
    mysql_vip = next(v for v in data["vips"] if v["name"] == "mysql")
    service = {"id": "p_mysql", "agent": "systemd:mariadb", "ops": [{"name": "monitor", "interval": "20s"}]}
    ref = {"spec": data["pacemaker"], "hosts": hosts}
    volume_args = {"spec": volume, "hosts": vol_hosts, "packages": ["mariadb-server"], "initial_data": "true"}
    group_args = {"vip": mysql_vip, "networks": data["networks"], "group_id": "g_mysql", "services": [service]}
    program = {
        "name": "package-parts", "runtime": "yaml", "packages": {"ha-openstack": str(REPO / "provider")},
        "resources": {
            "cluster": {"type": Token.PACEMAKER_CLUSTER.value, "properties": _camel(ref)},
            "drbd-mysql": {"type": Token.DRBD_VOLUME.value, "properties": _camel(
                {**volume_args, "cluster": {"urn": "${cluster.urn}", **ref}})},
            "mysql": {"type": Token.OPENSTACK_SERVICE_VIP.value, "properties": _camel(
                {**group_args, "cluster": {"urn": "${cluster.urn}", **ref},
                 "storage": {"urn": "${drbd-mysql.urn}", "spec": volume}})}},
        "outputs": {"address": "${mysql.address}", "clone": "${drbd-mysql.promotedClone}"}}
    project = tmp_path / "package-parts"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(yaml.safe_dump(program))
    result = engine_preview(project, "parts")
    assert "error" not in result.stderr.lower(), result.stderr

    def python() -> None:
        PacemakerCluster("cluster", ref)
        cluster = {"urn": "urn:pulumi:render::ha-openstack::ha-openstack:index:PacemakerCluster::cluster", **ref}
        DrbdVolume("drbd-mysql", {**volume_args, "cluster": cluster})
        OpenStackServiceVip("mysql", {**group_args, "cluster": cluster, "storage": {
            "urn": "urn:pulumi:render::ha-openstack::ha-openstack:index:DrbdVolume::drbd-mysql", "spec": volume}})

    expected = {name for name, _ in record_program(python, preview=True).commands}
    commands = {c.name: c for c in result.creates(Token.REMOTE_COMMAND)}
    assert set(commands) == expected
    cluster, drbd = result.by_name("cluster", Token.PACEMAKER_CLUSTER), result.by_name("drbd-mysql", Token.DRBD_VOLUME)
    assert cluster.urn in commands["drbd-mysql-initialize"].dependencies
    assert cluster.urn in commands["drbd-mysql-cib"].dependencies
    assert {cluster.urn, drbd.urn} <= set(commands["mysql-cib"].dependencies)
    print(f"YAML parts preview: {len(commands)} commands, {result.seconds:.1f} s")
