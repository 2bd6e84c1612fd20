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
import ipaddress
import types
import typing
from typing import Annotated, Any, Literal, NotRequired, TypedDict, Union, get_args, get_origin

import pulumi
from pydantic import BaseModel, SecretStr

from ..models import GaleraSpec, Host, PacemakerSpec, RabbitSpec, StackConfig, StackConfigError, validate_stack
from ..models.stack import Problem, _problem

_STRINGS = (str, ipaddress.IPv4Address, ipaddress.IPv4Network, ipaddress.IPv4Interface)
_made: dict[type[BaseModel], type] = {}


def typed_dict_of(model: type[BaseModel], *, without: tuple[str, ...] = ()) -> type:
    """The TypedDict of `model` (one per model, named like it), its nested models included."""
    if model in _made and not without:
        return _made[model]
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name in without:
            continue
        annotation = pulumi.Input[_schema_type(info.annotation)]  # type: ignore[misc]
        fields[name] = annotation if info.is_required() else NotRequired[annotation]
    made = TypedDict(model.__name__, fields)  # type: ignore[operator]
    made.__module__ = __name__
    made.__doc__ = model.__doc__
    if not without:
        _made[model] = made
    return made


def _schema_type(annotation: Any) -> Any:
    """The annotation the host understands for a pydantic field's type."""
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
    if origin is list:
        return list[_schema_type(args[0])]  # type: ignore[misc]
    if origin is dict:
        return dict[str, _schema_type(args[1])]  # type: ignore[misc]
    if annotation is SecretStr:
        return pulumi.Input[str]
    if annotation in _STRINGS:
        return str
    if annotation in (int, float, bool):
        return annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return typed_dict_of(annotation)
    raise TypeError(f"no schema type for {annotation!r}")


HostArgs = typed_dict_of(Host)
PacemakerSpecArgs = typed_dict_of(PacemakerSpec)
GaleraSpecArgs = typed_dict_of(GaleraSpec)
RabbitSpecArgs = typed_dict_of(RabbitSpec)
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
