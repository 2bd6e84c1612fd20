"""Serving the package: Pulumi's component provider host, with inputs resolved first.

The engine hands a component every top-level input that holds a secret (or depends on another
resource) as an Output, even when its value is known: `authkey` nested in `pacemaker` makes
all of `pacemaker` an Output. The host's own mapping of schema names to Python names cannot
look inside an Output (it reads it as an empty object and reports required fields missing),
and our components take validated models, i.e. values. So the values are taken out first:
at construct time such an Output is already resolved (the provider server builds it from a
completed future), and its value is read without waiting. A value that is not known yet
(another resource's output during preview) is an error naming the field: components that
take Outputs from other resources are issue 18's first part (docs/package.md).

Secretness is not lost on the way: the models type every secret as SecretStr, and the
components mark what carries one secret (commands, outputs) from the model, not the input.
"""
import sys
from typing import Any, Iterator

import pulumi
from pulumi.output import Unknown
from pulumi.provider import main
from pulumi.provider.experimental.analyzer import ComponentDefinition
from pulumi.provider.experimental.component import ComponentProvider

PACKAGE = "ha-openstack"


class InputNotKnown(Exception):
    """An input whose value the engine does not know yet."""

    def __init__(self, path: str):
        super().__init__(f"{path}: the value is not known yet (an output of a resource not created yet); "
                         "this package takes values known at preview, see docs/package.md")


def known_value(value: Any, path: str) -> Any:
    """`value` with every resolved Output replaced by its value, deeply; InputNotKnown otherwise."""
    if isinstance(value, pulumi.Output):
        data = value._data  # the provider server's Output: a completed future (see the module doc)
        if not data.done() or data.exception() is not None or not data.result().is_known:
            raise InputNotKnown(path)
        return known_value(data.result().value, path)
    if isinstance(value, Unknown):
        raise InputNotKnown(path)
    if isinstance(value, dict):
        return {k: known_value(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [known_value(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


class ResolvingComponentProvider(ComponentProvider):
    """The experimental host's provider, mapping inputs after `known_value`."""

    def map_inputs(self, inputs: Any, component_def: ComponentDefinition) -> Any:
        return super().map_inputs(known_value(dict(inputs), ""), component_def)


def serve(components: list[type[pulumi.ComponentResource]], version: str) -> None:
    """What `component_provider_host` does, with the provider above."""
    main(ResolvingComponentProvider(components, PACKAGE, None, version), sys.argv[1:])


def schema_properties(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, property) for every property of a package schema's types and resources, inputs
    and outputs, with array items and map values: what a check of the schema's typing walks."""
    def walk(where: str, prop: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        yield where, prop
        for key in ("items", "additionalProperties"):
            if key in prop:
                yield from walk(f"{where}.{key}", prop[key])

    for token, spec in [*schema["types"].items(), *schema["resources"].items()]:
        for group in ("properties", "inputProperties"):
            for name, prop in spec.get(group, {}).items():
                yield from walk(f"{token}.{group}.{name}", prop)
