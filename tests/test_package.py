"""The Pulumi package (ha_components.package): its inferred schema and its components.

The schema is the one Pulumi's component provider host infers from the TypedDict args; the
components run under Pulumi's mocks and must register what the SDK's own classes register.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import typing
from pathlib import Path
from typing import Any, Iterator

import pulumi
from pulumi.output import Unknown
import pytest
from pydantic import BaseModel

from ha_components import models, remote
from ha_components.dryrun import record, record_program
from ha_components.models import StackConfig, StackConfigError
from ha_components.models.base import SECRET_PLACEHOLDER_PREFIX
from ha_components import drbd, galera, haproxy, rabbitmq, vip
from ha_components.models.active_active import frontend_plan
from ha_components.models.haproxy import Server
from ha_components.package.components import (COMPONENTS, ActiveActiveTopology, DrbdVolume, GaleraCluster,
                                              HaproxyFrontend, OpenStackServiceVip, PacemakerCluster, RabbitHACluster)
from ha_components.package.host import (PACKAGE, InputNotKnown, ResolvingComponentProvider, known_value,
                                        schema_properties)
from ha_components.pacemaker import PacemakerCluster as SdkPacemakerCluster, PacemakerClusterArgs
from ha_components.render import FileSpec
from ha_components.render.cib import Op, Primitive
from ha_components.topologies import build
from ha_components.types import Token

from .helpers import AUTHKEY, stack_data

SERVED = set(Token) - {Token.REMOTE_COMMAND}  # the six components and the two topologies


def package_schema() -> dict[str, Any]:
    return json.loads(ResolvingComponentProvider(COMPONENTS, PACKAGE, None, "0.1.0").schema)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def test_the_package_serves_the_components_and_both_topologies() -> None:
    assert set(package_schema()["resources"]) == {t.value for t in SERVED}


def test_no_property_of_the_schema_is_any() -> None:
    found = list(schema_properties(package_schema()))
    assert len(found) > 150
    untyped = [where for where, prop in found if "type" not in prop and "$ref" not in prop]
    anys = [where for where, prop in found if prop.get("$ref") == "pulumi.json#/Any"]
    assert not untyped and not anys, (untyped, anys)


def _models() -> Iterator[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    todo: list[Any] = [StackConfig]
    while todo:
        t = todo.pop()
        if isinstance(t, type) and issubclass(t, BaseModel):
            if t in seen:
                continue
            seen.add(t)
            yield t
            todo.extend(f.annotation for f in t.model_fields.values())
        else:
            todo.extend(typing.get_args(t))


def test_every_model_is_a_schema_type_with_its_fields_and_required_ones() -> None:
    types = package_schema()["types"]
    checked = 0
    for model in _models():
        if model is StackConfig:  # the topologies' inputs, less `topology` (the type says it)
            spec = package_schema()["resources"][Token.ACTIVE_ACTIVE_TOPOLOGY]
            props, required = spec["inputProperties"], spec["requiredInputs"]
            fields = {n: f for n, f in model.model_fields.items() if n != "topology"}
        else:
            spec = types[f"{PACKAGE}:index:{model.__name__}"]
            props, required = spec["properties"], spec.get("required", [])
            fields = dict(model.model_fields)
        assert set(props) == {camel(n) for n in fields}, model.__name__
        assert set(required) == {camel(n) for n, f in fields.items() if f.is_required()}, model.__name__
        checked += 1
    assert checked >= 15


def test_the_rendered_objects_a_component_takes_are_schema_types_with_their_fields() -> None:
    """FileSpec, Op, Endpoint, UnitSet and Server are the SDK's dataclasses, field for field."""
    types = package_schema()["types"]
    for cls in (FileSpec, Op, vip.Endpoint, vip.UnitSet, Server):
        spec = types[f"{PACKAGE}:index:{cls.__name__}"]
        fields = dataclasses.fields(cls)
        assert set(spec["properties"]) == {camel(f.name) for f in fields}, cls
        assert set(spec["required"]) == {camel(f.name) for f in fields if f.default is f.default_factory is dataclasses.MISSING}
    assert types[f"{PACKAGE}:index:UnitSet"]["properties"]["after"]["type"] == "array"  # a tuple in Python
    ref = types[f"{PACKAGE}:index:PacemakerClusterRef"]
    assert ref["properties"]["urn"] == {"type": "string", "description": ref["properties"]["urn"]["description"]}
    assert ref["properties"]["spec"]["$ref"] == f"#/types/{PACKAGE}:index:PacemakerSpec"


def test_secrets_and_addresses_have_their_schema_types() -> None:
    schema = package_schema()
    ssh = schema["types"][f"{PACKAGE}:index:SshEndpoint"]["properties"]
    assert ssh["port"]["type"] == "integer" and ssh["privateKey"]["type"] == "string"
    assert ssh["hostKey"] == {"type": "array", "items": {"type": "string", "plain": True}}
    host = schema["types"][f"{PACKAGE}:index:Host"]["properties"]
    assert host["addresses"]["items"]["type"] == "string"
    assert "plain" not in host["addresses"]  # any input may be an Output (a secret from config)
    outputs = schema["resources"][Token.ACTIVE_ACTIVE_TOPOLOGY]["properties"]
    assert outputs["databaseUrls"] == {"type": "object", "additionalProperties": {"type": "string"}}


def _secret(value: Any) -> Any:
    """A stack file's secret placeholder as a value the engine would decrypt (hex: a valid
    password and Erlang cookie), the authkey as a corosync key."""
    if isinstance(value, dict):
        return {k: _secret(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_secret(v) for v in value]
    if isinstance(value, str) and value.startswith(SECRET_PLACEHOLDER_PREFIX):
        return AUTHKEY if "authkey" in value else hashlib.sha256(value.encode()).hexdigest()
    return value


def _topology_args(tmp_path: Path) -> dict[str, Any]:
    """lab-aa's config as the package's host hands it to the topology (snake_case names)."""
    data = _secret(stack_data("lab-aa"))
    del data["topology"]
    return data


def test_the_topology_component_registers_what_the_stack_program_does(tmp_path: Path) -> None:
    args = _topology_args(tmp_path)
    stack = models.validate_stack({**args, "topology": "active-active"})
    program = record(stack)
    served = record_program(lambda: {"x": ActiveActiveTopology("lab", args).api_vip}, preview=True)
    assert [name for name, _ in served.commands] == [name for name, _ in program]
    assert [_known(inputs) for _, inputs in served.commands] == [_known(inputs) for _, inputs in program]
    assert served.types["lab"] == Token.ACTIVE_ACTIVE_TOPOLOGY
    assert served.outputs == {"x": "10.77.1.110"}
    # Every child of the topology: each component's commands are parented as in the program.
    assert {n: r.parent for n, r in remote.RECORDED.items()} == {
        n: r.parent for n, r in _recorded_after(lambda: build(stack)).items()}


def _known(inputs: dict[str, Any]) -> dict[str, Any]:
    """Inputs with preview's unknowns (distinct objects) as one marker."""
    return {k: "<unknown>" if isinstance(v, Unknown) else v for k, v in inputs.items()}


def _recorded_after(program: Any) -> dict[str, Any]:
    record_program(program, preview=True)
    return dict(remote.RECORDED)


def test_the_topology_outputs_are_the_stack_programs(tmp_path: Path) -> None:
    args = _topology_args(tmp_path)
    stack = models.validate_stack({**args, "topology": "active-active"})
    program = record_program(lambda: build(stack))

    def served() -> dict[str, Any]:
        lab = ActiveActiveTopology("lab", args)
        return {key: getattr(lab, key) for key in program.outputs}

    got = record_program(served)
    assert got.outputs == program.outputs
    assert got.secret_outputs == program.secret_outputs
    assert got.secret_outputs["transport_url"] and got.secret_outputs["database_urls"]


def test_a_bad_topology_input_is_reported_with_its_field(tmp_path: Path) -> None:
    args = _topology_args(tmp_path)
    args["hosts"][1]["addresses"][0] = "10.99.0.12"
    with pytest.raises(StackConfigError, match=r"hosts\[1\]\.addresses\[0\]: address 10.99.0.12 is in no declared network"):
        record_program(lambda: {"x": ActiveActiveTopology("lab", args).api_vip})


def test_a_served_component_is_the_sdk_component_from_typed_args(tmp_path: Path) -> None:
    args = _topology_args(tmp_path)
    stack = models.validate_stack({**args, "topology": "active-active"})
    hosts = [stack.host(n) for n in stack.pacemaker.nodes]
    sdk = record_program(lambda: {"n": SdkPacemakerCluster("c", PacemakerClusterArgs(stack.pacemaker, hosts)).node_names})
    served = record_program(lambda: {"n": PacemakerCluster("c", {
        "spec": args["pacemaker"], "hosts": [h for h in args["hosts"] if h["name"] in stack.pacemaker.nodes]}).node_names})
    assert served.commands == sdk.commands
    assert served.outputs == sdk.outputs == {"n": ["ctl1", "ctl2", "ctl3"]}
    assert served.types["c"] == Token.PACEMAKER_CLUSTER


def test_served_galera_and_rabbitmq_are_the_sdk_components_with_wire_numbers(tmp_path: Path) -> None:
    """Numbers come over the wire as floats (protobuf Struct): 3306.0 must still render 3306."""
    args = _topology_args(tmp_path)
    stack = models.validate_stack({**args, "topology": "active-active"})
    hosts = [stack.host(n) for n in stack.galera.nodes]
    raw_hosts = [h for h in args["hosts"] if h["name"] in stack.galera.nodes]
    common = {"vip_address": "10.77.1.110", "health_allowed_from": ["10.77.1.11"], "users": {"glance": "pw-glance"}}
    sdk = record_program(lambda: {"u": galera.GaleraCluster("g", galera.GaleraClusterArgs(
        stack.galera, hosts, **common, vip_port=3307)).database_urls})
    served = record_program(lambda: {"u": GaleraCluster("g", {
        "spec": {**args["galera"], "port": 3306.0}, "hosts": raw_hosts, **common, "vip_port": 3307.0}).database_urls})
    assert served.commands == sdk.commands and served.outputs == sdk.outputs
    assert served.outputs["u"]["glance"].endswith("@10.77.1.110:3307/glance")
    sdk = record_program(lambda: {"t": rabbitmq.RabbitHACluster("r", rabbitmq.RabbitHAClusterArgs(
        stack.rabbitmq, hosts)).transport_url})
    served = record_program(lambda: {"t": RabbitHACluster("r", {"spec": args["rabbitmq"], "hosts": raw_hosts}).transport_url})
    assert served.commands == sdk.commands and served.outputs == sdk.outputs
    assert served.types["r"] == Token.RABBIT_HA_CLUSTER and served.secret_outputs["t"]


def _urn(token: Token, name: str) -> str:
    """A top-level component's URN in record_program's stack, as `${resource.urn}` gives it."""
    return f"urn:pulumi:render::ha-openstack::{token.value}::{name}"


def _deps(names: list[str]) -> dict[str, tuple[str, ...]]:
    """The recorded dependencies of the named commands; a reference (DependencyResource) is ''."""
    return {n: remote.RECORDED[n].after for n in names}


def test_served_drbd_volume_and_service_vip_take_cluster_and_volume_references(tmp_path: Path) -> None:
    """lab-ap's MySQL on DRBD behind its VIP: the served components, given the cluster's and the
    volume's URN and data, register the SDK's commands; they wait for the references instead of
    the cluster's `ready` and base CIB change (the remote component stands for its children)."""
    args = _secret(stack_data("lab-ap"))
    stack = models.validate_stack(args)
    raw = {h["name"]: h for h in args["hosts"]}
    vol, mysql_vip = stack.volume("mysql"), stack.vip("mysql")
    service = Primitive("p_mysql", "systemd:mariadb", {"config": "/etc/mysql/my.cnf"},
                        (Op("start", timeout="300s"), Op("monitor", "20s", timeout="30s")))
    conf = FileSpec("/etc/mysql/mariadb.conf.d/90-ha.cnf", "[mysqld]\n", mode="0640", secret=True)

    def sdk() -> dict[str, Any]:
        cluster = SdkPacemakerCluster("cluster", PacemakerClusterArgs(stack.pacemaker, [stack.host(n) for n in stack.pacemaker.nodes]))
        volume = drbd.DrbdVolume("drbd-mysql", drbd.DrbdVolumeArgs(
            vol, [stack.host(n) for n in vol.nodes], cluster, initial_data="true", packages=["mariadb-server"],
            disable_units=["mariadb"], files=[conf]))
        group = vip.OpenStackServiceVip("mysql", vip.ServiceVipArgs(
            mysql_vip, stack.networks, cluster, services=[service], storage=volume, group_id="g_mysql"))
        return {"address": group.address, "clone": volume.promoted_clone, "device": volume.device}

    cluster_ref = {"urn": _urn(Token.PACEMAKER_CLUSTER, "cluster"), "spec": args["pacemaker"],
                   "hosts": [raw[n] for n in stack.pacemaker.nodes]}

    def served() -> dict[str, Any]:
        PacemakerCluster("cluster", {"spec": args["pacemaker"], "hosts": cluster_ref["hosts"]})
        raw_vol = next(v for v in args["drbd"] if v["name"] == "mysql")
        volume = DrbdVolume("drbd-mysql", {
            "spec": raw_vol, "hosts": [raw[n] for n in vol.nodes], "cluster": cluster_ref, "initial_data": "true",
            "packages": ["mariadb-server"], "disable_units": ["mariadb"],
            "files": [{"path": conf.path, "content": conf.content, "mode": "0640", "secret": True}]})
        group = OpenStackServiceVip("mysql", {
            "vip": next(v for v in args["vips"] if v["name"] == "mysql"), "networks": args["networks"],
            "cluster": cluster_ref, "storage": {"urn": _urn(Token.DRBD_VOLUME, "drbd-mysql"), "spec": raw_vol},
            "group_id": "g_mysql", "services": [{"id": "p_mysql", "agent": "systemd:mariadb",
                                                 "params": {"config": "/etc/mysql/my.cnf"},
                                                 "ops": [{"name": "start", "timeout": "300s"},
                                                         {"name": "monitor", "interval": "20s", "timeout": "30s"}]}]})
        return {"address": group.address, "clone": volume.promoted_clone, "device": volume.device}

    want = record_program(sdk, preview=True)
    want_deps = _deps(["drbd-mysql-initialize", "drbd-mysql-cib", "mysql-cib"])
    got = record_program(served, preview=True)
    assert got.commands == want.commands
    assert got.outputs == want.outputs == {"address": "10.77.11.101", "clone": "ms_drbd_mysql", "device": "/dev/drbd0"}
    assert got.types["drbd-mysql"] == Token.DRBD_VOLUME and got.types["mysql"] == Token.OPENSTACK_SERVICE_VIP
    assert want_deps["drbd-mysql-cib"][:2] == ("cluster-ready", "cluster-cib")
    assert want_deps["mysql-cib"][-1] == "drbd-mysql-cib"
    # The SDK's cluster dependencies (ready, base CIB change) are the reference; the volume's CIB
    # change, for the group, is the volume's reference.
    assert _deps(list(want_deps)) == {
        "drbd-mysql-initialize": tuple("" if d == "cluster-ready" else d for d in want_deps["drbd-mysql-initialize"]),
        "drbd-mysql-cib": ("", *want_deps["drbd-mysql-cib"][2:]),
        "mysql-cib": ("", *want_deps["mysql-cib"][2:-1], "")}


def _listener_args(plan: list[Any]) -> list[dict[str, Any]]:
    """frontend_plan's listeners as the package's args, numbers as floats (the wire's)."""
    return [{"name": p.name, "bind_address": p.bind[0], "bind_port": float(p.bind[1]),
             "servers": [{"host": s.host, "address": s.address, "port": float(s.port), "backup": s.backup} for s in p.servers],
             "spec": p.spec.model_dump(mode="json", exclude_none=True),
             **({"check_port": float(p.check_port)} if p.check_port is not None else {}), "tls": p.tls} for p in plan]


def test_served_haproxy_frontend_and_api_vip_are_the_sdk_components(tmp_path: Path) -> None:
    """lab-aa's HAProxy with its listener plan and the API VIP following its clone, with node
    scripts, files, systemd units, keystone endpoints and a secret primitive parameter."""
    args = _topology_args(tmp_path)
    stack = models.validate_stack({**args, "topology": "active-active"})
    lb, api_vip = stack.haproxy, stack.vip("api")
    assert lb is not None
    openrc = FileSpec("/root/admin-openrc", "export OS_PASSWORD=pw\n", mode="0600", secret=True)
    units = [vip.UnitSet("web", ["nginx"], ["/etc/nginx/nginx.conf"], ports=(80,)), vip.UnitSet("app", ["app"], [], ("web",))]
    bind = {n: str(stack.host(n).addresses[0]) for n in stack.pacemaker.nodes}
    endpoint = vip.Endpoint("keystone", "identity", "public", "http://10.77.1.110:5000/v3")
    fenced = Primitive("p_app", "systemd:app", {"token": models.base.SecretStr("s3cret")})

    def sdk() -> dict[str, Any]:
        cluster = SdkPacemakerCluster("cluster", PacemakerClusterArgs(stack.pacemaker, [stack.host(n) for n in stack.pacemaker.nodes]))
        front = haproxy.HaproxyFrontend("haproxy", haproxy.HaproxyFrontendArgs(
            lb, [stack.host(n) for n in lb.nodes], frontend_plan(stack), cluster))
        api = vip.OpenStackServiceVip("api", vip.ServiceVipArgs(
            api_vip, stack.networks, cluster, colocate_with=front.clone_id, packages=["nginx"],
            files=[FileSpec("/etc/nginx/nginx.conf", "events {}\n")], node_scripts={"hello": "true"},
            endpoints=[endpoint], admin_openrc=openrc, systemd_units=units,
            node_files={"ctl1": [FileSpec("/etc/app.conf", "ctl1\n")]}, bind_addresses=bind))
        vip.OpenStackServiceVip("app", vip.ServiceVipArgs(None, stack.networks, cluster, services=[fenced]))
        return {"stats": front.stats_urls, "listeners": front.listeners, "cidr": api.cidr}

    cluster_ref = {"urn": _urn(Token.PACEMAKER_CLUSTER, "cluster"), "spec": args["pacemaker"],
                   "hosts": [h for h in args["hosts"] if h["name"] in stack.pacemaker.nodes]}

    def served() -> dict[str, Any]:
        PacemakerCluster("cluster", {"spec": args["pacemaker"], "hosts": cluster_ref["hosts"]})
        front = HaproxyFrontend("haproxy", {
            "spec": args["haproxy"], "hosts": [h for h in args["hosts"] if h["name"] in lb.nodes],
            "listeners": _listener_args(frontend_plan(stack)), "cluster": cluster_ref})
        api = OpenStackServiceVip("api", {
            "vip": next(v for v in args["vips"] if v["name"] == "api"), "networks": args["networks"],
            "cluster": cluster_ref, "colocate_with": "cl_haproxy", "packages": ["nginx"],
            "files": [{"path": "/etc/nginx/nginx.conf", "content": "events {}\n"}], "node_scripts": {"hello": "true"},
            "endpoints": [vars(endpoint)], "admin_openrc": {**vars(openrc)},
            "systemd_units": [{"name": "web", "units": ["nginx"], "files": ["/etc/nginx/nginx.conf"], "ports": [80]},
                              {"name": "app", "units": ["app"], "files": [], "after": ["web"]}],
            "node_files": {"ctl1": [{"path": "/etc/app.conf", "content": "ctl1\n"}]}, "bind_addresses": bind})
        OpenStackServiceVip("app", {"networks": args["networks"], "cluster": cluster_ref, "services": [
            {"id": "p_app", "agent": "systemd:app", "secret_params": {"token": "s3cret"}}]})
        return {"stats": front.stats_urls, "listeners": front.listeners, "cidr": api.cidr}

    want, got = record_program(sdk, preview=True), record_program(served, preview=True)
    assert [n for n, _ in got.commands] == [n for n, _ in want.commands]
    assert got.commands == want.commands
    ready = dict(got.commands)["api-ctl2-web"]["create"]  # answering on its bind address before ctl3 restarts
    assert "for port in 80; do" in ready and "http://10.77.1.12:$port/" in ready
    assert got.outputs == want.outputs and got.outputs["cidr"] == "10.77.1.110/24"
    assert "stdin" in dict(got.commands)["app-cib"]["secret_inputs"]  # the secret parameter stays secret
    assert got.types["haproxy"] == Token.HAPROXY_FRONTEND


def test_a_reference_to_the_wrong_component_or_hosts_is_reported_with_its_field(tmp_path: Path) -> None:
    args = _topology_args(tmp_path)
    hosts = [h for h in args["hosts"] if h["name"] in args["pacemaker"]["nodes"]]
    ref = {"urn": _urn(Token.GALERA_CLUSTER, "galera"), "spec": args["pacemaker"], "hosts": hosts}
    group = {"networks": args["networks"], "cluster": ref, "group_id": "g_x"}
    with pytest.raises(StackConfigError, match=r"^cluster\.urn: 'urn:pulumi:.*::galera' is not the URN of a PacemakerCluster"):
        record_program(lambda: {"x": OpenStackServiceVip("x", group).cidr})
    ref.update(urn=_urn(Token.PACEMAKER_CLUSTER, "cluster"), hosts=hosts[::-1])
    with pytest.raises(StackConfigError, match=r"^cluster\.hosts: the hosts \['ctl3', 'ctl2', 'ctl1'\] are not"):
        record_program(lambda: {"x": OpenStackServiceVip("x", group).cidr})


def _output(value: Any, *, known: bool = True, secret: bool = False) -> pulumi.Output[Any]:
    fut: asyncio.Future[Any] = asyncio.get_event_loop().create_future()
    fut.set_result(value)
    known_fut: asyncio.Future[bool] = asyncio.get_event_loop().create_future()
    known_fut.set_result(known)
    secret_fut: asyncio.Future[bool] = asyncio.get_event_loop().create_future()
    secret_fut.set_result(secret)
    return pulumi.Output(set(), fut, known_fut, secret_fut)


def test_known_value_takes_resolved_outputs_apart_and_names_an_unknown_one() -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        secret = _output({"authkey": "k", "nodes": ["a"]}, secret=True)
        unknown = _output(None, known=False)
        loop.run_until_complete(asyncio.sleep(0))  # the Outputs' data resolve, as before a construct
        assert known_value({"pacemaker": secret, "port": 22}, "") == {
            "pacemaker": {"authkey": "k", "nodes": ["a"]}, "port": 22}
        with pytest.raises(InputNotKnown, match=r"^hosts\[0\]\.ssh: the value is not known yet"):
            known_value({"hosts": [{"ssh": unknown}]}, "")
    finally:
        loop.close()
        asyncio.set_event_loop(None)
