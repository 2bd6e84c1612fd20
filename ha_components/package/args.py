"""Typed args of the Pulumi package: TypedDicts derived from the pydantic models.

Pulumi's component provider host (`pulumi.provider.experimental`) infers the package's
schema from type annotations it understands (TypedDicts, str/int/float/bool, lists, string
keyed dicts, `pulumi.Input`); it does not understand pydantic. Each TypedDict here is made
from the model of the same name, field for field, so the package's inputs cannot drift from
the stack file's: a required field stays required, a field with a default or `None` becomes
optional, constrained strings, IP addresses, networks and `Literal` choices become strings.
Every field is a `pulumi.Input` (in the schema: not `plain`), so a program may pass secrets
and other Outputs anywhere; the host resolves them before the models see them (host.py). The models still do every check when the values
come back (`to_model`), with the same field-named messages as `validate`.

No `from __future__ import annotations` here: the host reads these annotations at run time.
"""
import dataclasses
import ipaddress
import types
import typing
from typing import Annotated, Any, Iterator, Literal, NotRequired, TypedDict, Union, get_args, get_origin

import pulumi
from pydantic import BaseModel, SecretStr

from ..models import (DrbdVolumeSpec, GaleraSpec, HaproxySpec, Host, Listener, Network, PacemakerSpec, RabbitSpec,
                      StackConfig, StackConfigError, Vip, validate_stack)
from ..models.haproxy import Server
from ..models.stack import Problem, _problem
from ..render import FileSpec
from ..render.cib import Op
from ..vip import Endpoint, UnitSet

_STRINGS = (str, ipaddress.IPv4Address, ipaddress.IPv4Network, ipaddress.IPv4Interface)
_made: dict[type, type] = {}


def typed_dict_of(model: type, *, without: tuple[str, ...] = ()) -> type:
    """The TypedDict of `model`, a pydantic model or a dataclass (one per class, named like it),
    its nested models included."""
    if model in _made and not without:
        return _made[model]
    fields: dict[str, Any] = {}
    for name, annotation, required in _fields_of(model):
        if name in without:
            continue
        annotation = pulumi.Input[_schema_type(annotation)]  # type: ignore[misc]
        fields[name] = annotation if required else NotRequired[annotation]
    made = TypedDict(model.__name__, fields)  # type: ignore[operator]
    made.__module__ = __name__
    made.__doc__ = model.__doc__
    if not without:
        _made[model] = made
    return made


def _fields_of(model: type) -> Iterator[tuple[str, Any, bool]]:
    """(name, annotation, required) of each field."""
    if issubclass(model, BaseModel):
        for name, info in model.model_fields.items():
            yield name, info.annotation, info.is_required()
        return
    hints = typing.get_type_hints(model)  # the render modules' annotations are strings
    for f in dataclasses.fields(model):
        yield f.name, hints[f.name], f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _schema_type(annotation: Any) -> Any:
    """The annotation the host understands for a field's type."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _schema_type(args[0])
    if origin in (Union, types.UnionType):
        present = [a for a in args if a is not type(None)]
        if len(present) != 1:
            raise TypeError(f"no schema type for the union {annotation}")
        return _schema_type(present[0])  # optional: the field's default makes it NotRequired
    if origin is Literal:
        kinds = {type(a) for a in args}
        if len(kinds) != 1:
            raise TypeError(f"no schema type for {annotation}")
        return kinds.pop()
    if origin is list or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
        return list[_schema_type(args[0])]  # type: ignore[misc]
    if origin is dict:
        return dict[str, _schema_type(args[1])]  # type: ignore[misc]
    if annotation is SecretStr:
        return pulumi.Input[str]
    if annotation in _STRINGS:
        return str
    if annotation in (int, float, bool):
        return annotation
    if isinstance(annotation, type) and (issubclass(annotation, BaseModel) or dataclasses.is_dataclass(annotation)):
        return typed_dict_of(annotation)
    raise TypeError(f"no schema type for {annotation!r}")


HostArgs = typed_dict_of(Host)
PacemakerSpecArgs = typed_dict_of(PacemakerSpec)
GaleraSpecArgs = typed_dict_of(GaleraSpec)
RabbitSpecArgs = typed_dict_of(RabbitSpec)
DrbdVolumeSpecArgs = typed_dict_of(DrbdVolumeSpec)
HaproxySpecArgs = typed_dict_of(HaproxySpec)
ListenerArgs = typed_dict_of(Listener)
NetworkArgs = typed_dict_of(Network)
VipArgs = typed_dict_of(Vip)
# The rendered objects a component takes (dataclasses), field for field as well.
FileSpecArgs = typed_dict_of(FileSpec)
OpArgs = typed_dict_of(Op)
EndpointArgs = typed_dict_of(Endpoint)
UnitSetArgs = typed_dict_of(UnitSet)
ServerArgs = typed_dict_of(Server)
# A topology's args: the stack file's keys under `ha-openstack:`, but the topology itself,
# which the component's type names.
TopologyArgs = typed_dict_of(StackConfig, without=("topology",))


class PacemakerClusterArgs(TypedDict):
    spec: pulumi.Input[PacemakerSpecArgs]  # type: ignore[valid-type]
    """The cluster: name, nodes (host names), authkey (a secret), properties, fencing."""
    hosts: pulumi.Input[list[HostArgs]]  # type: ignore[valid-type]
    """The cluster nodes, in spec.nodes order."""
    ready_timeout_seconds: NotRequired[pulumi.Input[int]]
    """How long `up` waits for every node to be online (default 300)."""


class GaleraClusterArgs(TypedDict):
    spec: pulumi.Input[GaleraSpecArgs]  # type: ignore[valid-type]
    """The Galera cluster: nodes (host names), SST user and password (a secret), options."""
    hosts: pulumi.Input[list[HostArgs]]  # type: ignore[valid-type]
    """The Galera nodes, in spec.nodes order: the first bootstraps."""
    vip_address: pulumi.Input[str]
    """Where clients reach the database (the HAProxy VIP)."""
    health_allowed_from: pulumi.Input[list[str]]
    """Addresses allowed to query the health endpoint: the load balancers and the VIP."""
    vip_port: NotRequired[pulumi.Input[int]]
    """The VIP's database port (default 3306)."""
    users: NotRequired[pulumi.Input[dict[str, str]]]
    """User -> password: the OpenStack projects' database users (secrets)."""
    databases: NotRequired[pulumi.Input[dict[str, str]]]
    """Database -> its user (nova has three); default: one database per user."""
    arbitrator: NotRequired[pulumi.Input[HostArgs]]  # type: ignore[valid-type]
    """A host running garbd (spec.arbitrator)."""


class RabbitHAClusterArgs(TypedDict):
    spec: pulumi.Input[RabbitSpecArgs]  # type: ignore[valid-type]
    """The broker cluster: nodes (host names), Erlang cookie and users' passwords (secrets)."""
    hosts: pulumi.Input[list[HostArgs]]  # type: ignore[valid-type]
    """The broker nodes, in spec.nodes order."""


class PacemakerClusterRef(TypedDict):
    """A PacemakerCluster another component builds on (refs.py: why not a resource reference)."""

    urn: pulumi.Input[str]
    """The cluster's URN (`${cluster.urn}`): what the component's commands wait for."""
    spec: pulumi.Input[PacemakerSpecArgs]  # type: ignore[valid-type]
    """The spec that cluster was given."""
    hosts: pulumi.Input[list[HostArgs]]  # type: ignore[valid-type]
    """The hosts that cluster was given, in spec.nodes order."""


class DrbdVolumeRef(TypedDict):
    """A DrbdVolume a service group is mounted from."""

    urn: pulumi.Input[str]
    """The volume's URN (`${volume.urn}`): the group waits for its promotable clone."""
    spec: pulumi.Input[DrbdVolumeSpecArgs]  # type: ignore[valid-type]
    """The spec that volume was given."""


class PrimitiveArgs(TypedDict):
    """A Pacemaker primitive: id, agent (`systemd:keystone`, `ocf:heartbeat:IPaddr2`), params."""

    id: pulumi.Input[str]
    agent: pulumi.Input[str]
    params: NotRequired[pulumi.Input[dict[str, str]]]
    secret_params: NotRequired[pulumi.Input[dict[str, str]]]
    """Parameters kept secret in the CIB change (passwords): the command is marked secret."""
    ops: NotRequired[pulumi.Input[list[OpArgs]]]  # type: ignore[valid-type]
    meta: NotRequired[pulumi.Input[dict[str, str]]]


class PlannedListenerArgs(TypedDict):
    """A listen section: where it binds and its servers (a stack's `frontend_plan`)."""

    name: pulumi.Input[str]
    bind_address: pulumi.Input[str]
    bind_port: pulumi.Input[int]
    servers: pulumi.Input[list[ServerArgs]]  # type: ignore[valid-type]
    spec: pulumi.Input[ListenerArgs]  # type: ignore[valid-type]
    """The listener's options (mode, balance, timeouts, checks)."""
    check_port: NotRequired[pulumi.Input[int]]
    """The servers' health port, when not their service port."""
    tls: NotRequired[pulumi.Input[bool]]
    """TLS terminated here (haproxy.tls)."""


class DrbdVolumeArgs(TypedDict):
    spec: pulumi.Input[DrbdVolumeSpecArgs]  # type: ignore[valid-type]
    """The volume: name, nodes (two host names), device, disk, mount point, filesystem."""
    hosts: pulumi.Input[list[HostArgs]]  # type: ignore[valid-type]
    """The volume's two nodes, in spec.nodes order."""
    cluster: pulumi.Input[PacemakerClusterRef]
    """The Pacemaker cluster that promotes it."""
    initial_data: NotRequired[pulumi.Input[str]]
    """Shell run once on the new filesystem (mounted at $MOUNT) before Pacemaker takes over;
    what it needs on the first node: the component's dependsOn."""
    packages: NotRequired[pulumi.Input[list[str]]]
    """Packages the service on the volume needs on both nodes."""
    disable_units: NotRequired[pulumi.Input[list[str]]]
    """Units left to Pacemaker (disabled at boot)."""
    files: NotRequired[pulumi.Input[list[FileSpecArgs]]]  # type: ignore[valid-type]
    """Files the service needs on both nodes before the first promotion."""
    timeout_seconds: NotRequired[pulumi.Input[int]]
    """How long the first promotion may take (default 300)."""


class HaproxyFrontendArgs(TypedDict):
    spec: pulumi.Input[HaproxySpecArgs]  # type: ignore[valid-type]
    """HAProxy: nodes (host names), link, stats port, TLS."""
    hosts: pulumi.Input[list[HostArgs]]  # type: ignore[valid-type]
    """The load balancers, in spec.nodes order (all Pacemaker nodes)."""
    listeners: pulumi.Input[list[PlannedListenerArgs]]
    """Every listen section with its bind address and servers."""
    cluster: pulumi.Input[PacemakerClusterRef]
    """The Pacemaker cluster that clones HAProxy."""
    public_vip: NotRequired[pulumi.Input[VipArgs]]  # type: ignore[valid-type]
    """spec.tls: the public VIP, following the clone."""
    networks: NotRequired[pulumi.Input[list[NetworkArgs]]]  # type: ignore[valid-type]
    """The networks the public VIP lies in."""


class OpenStackServiceVipArgs(TypedDict):
    networks: pulumi.Input[list[NetworkArgs]]  # type: ignore[valid-type]
    """The networks the VIP lies in."""
    cluster: pulumi.Input[PacemakerClusterRef]
    """The Pacemaker cluster that runs the VIP and its services."""
    vip: NotRequired[pulumi.Input[VipArgs]]  # type: ignore[valid-type]
    """The VIP; none: a group of services without an address."""
    services: NotRequired[pulumi.Input[list[PrimitiveArgs]]]
    """Active/passive: the services Pacemaker runs with the VIP, in start order."""
    storage: NotRequired[pulumi.Input[DrbdVolumeRef]]
    """A DRBD filesystem mounted before the services where the volume is promoted."""
    group_id: NotRequired[pulumi.Input[str]]
    colocate_with: NotRequired[pulumi.Input[str]]
    """Active/active: the clone the VIP follows (a HaproxyFrontend's cloneId)."""
    packages: NotRequired[pulumi.Input[list[str]]]
    files: NotRequired[pulumi.Input[list[FileSpecArgs]]]  # type: ignore[valid-type]
    """Files on every node before the services start."""
    node_scripts: NotRequired[pulumi.Input[dict[str, str]]]
    """Name -> script run on every node after the files."""
    endpoints: NotRequired[pulumi.Input[list[EndpointArgs]]]  # type: ignore[valid-type]
    """Keystone endpoints to register on the VIP (need adminOpenrc)."""
    admin_openrc: NotRequired[pulumi.Input[FileSpecArgs]]  # type: ignore[valid-type]
    region: NotRequired[pulumi.Input[str]]
    systemd_units: NotRequired[pulumi.Input[list[UnitSetArgs]]]  # type: ignore[valid-type]
    """Active/active: services run by systemd on every node, restarted when their files change."""
    node_files: NotRequired[pulumi.Input[dict[str, list[FileSpecArgs]]]]  # type: ignore[valid-type]
    """Host name -> files for that node only."""
    bind_addresses: NotRequired[pulumi.Input[dict[str, str]]]
    """Host name -> the address its services bind: a node's restarted systemdUnits with ports
    must answer HTTP there before the next node restarts its own."""


M = typing.TypeVar("M", bound=BaseModel)


def to_model(model: type[M], value: Any, loc: tuple[str | int, ...]) -> M:
    """`value` (a TypedDict's content) validated as `model`; errors name the input's field."""
    from pydantic import ValidationError

    try:
        return model.model_validate(value)
    except ValidationError as err:
        raise StackConfigError([_at(loc, _problem(e)) for e in err.errors()]) from None


def to_stack(topology: str, args: Any) -> StackConfig:
    """A topology's args as the validated stack, with every check `validate` runs."""
    return validate_stack({**args, "topology": topology})


def _at(loc: tuple[str | int, ...], problem: Problem) -> Problem:
    return Problem((*loc, *problem.loc), problem.message)
