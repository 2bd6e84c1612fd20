"""The stack-file JSON Schema (ha_components.schema): committed, complete, and in step with `validate`."""
from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from typing import Any, Iterator

import jsonschema
import pytest
import yaml
from pydantic import ValidationError

from ha_components.models import StackConfig, StackConfigError, is_placeholder, secret_fields, validate_stack
from ha_components.schema import SCHEMA_PATH, schema_text, stack_file_schema
from ha_components.stackfile import config_from_document

from .helpers import ROOT, SHIPPED_STACKS

MODELINE = "# yaml-language-server: $schema=../schema/stack.schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


def test_committed_schema_is_generated() -> None:
    assert SCHEMA_PATH.read_text() == schema_text(), \
        "schema/stack.schema.json is stale: python -m ha_components schema > schema/stack.schema.json"


def test_cli_prints_the_schema() -> None:
    out = subprocess.run([sys.executable, "-m", "ha_components", "schema"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    assert json.loads(out) == stack_file_schema()


def _properties(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        for name, sub in (node.get("properties") or {}).items():
            yield f"{path}.{name}", sub
            yield from _properties(sub, f"{path}.{name}")
        for key, sub in node.items():
            if key != "properties":
                yield from _properties(sub, f"{path}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from _properties(sub, f"{path}[{i}]")


def test_every_field_is_described() -> None:
    schema = stack_file_schema()
    fields = list(_properties(schema))
    assert len(fields) > 100
    # oneOf branches of SshEndpoint restate two fields' types only.
    missing = [p for p, sub in fields if "description" not in sub and "/oneOf" not in p]
    assert not missing, f"fields without a description (add a docstring under the field): {missing}"


def test_enums_examples_and_secrets() -> None:
    schema = stack_file_schema()
    config = schema["properties"]["config"]["properties"]
    assert config["ha-openstack:topology"]["enum"] == ["active-passive", "active-active"]
    defs = schema["definitions"]
    assert "keystone" in defs["OpenStackSpec"]["properties"]["services"]["items"]["enum"]
    assert defs["PacemakerSpec"]["properties"]["no_quorum_policy"]["enum"][0] == "stop"
    assert defs["Host"]["properties"]["addresses"]["examples"]
    assert defs["PacemakerSpec"]["properties"]["authkey"]["allOf"] == [{"$ref": "#/definitions/Secret"}]
    assert defs["Secret"]["required"] == ["secure"]


def _patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, sub in node.items():
            if key == "pattern":
                yield sub
            elif key == "patternProperties":
                yield from sub
            yield from _patterns(sub)
    elif isinstance(node, list):
        for sub in node:
            yield from _patterns(sub)


def test_patterns_are_ecmascript() -> None:
    """Editors compile patterns as ECMAScript (unicode mode): no Python-only syntax, no `\\-`
    outside a class (all 43 compiled with node's `new RegExp(p, "u")` when this was written)."""
    patterns = set(_patterns(stack_file_schema()))
    assert len(patterns) > 10
    for pattern in patterns:
        outside_classes = re.sub(r"\[.*?\]", "", pattern)
        for python_only in ("(?P", "\\A", "\\Z", "(?i", "(?x", "\\-"):
            assert python_only not in outside_classes, (pattern, python_only)
        re.compile(pattern)


@pytest.mark.parametrize("stack_file", SHIPPED_STACKS, ids=lambda p: p.name)
def test_shipped_stack_matches_schema(stack_file, validator) -> None:
    text = stack_file.read_text()
    assert text.splitlines()[0] == MODELINE
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(yaml.safe_load(text))]
    assert not errors


# --- The cross-check: mutate the shipped stacks field by field; the schema and the models'
# field rules must agree, so whatever the schema accepts and `validate` rejects is a
# cross-field rule (references, subnets, duplicates), never a type.

CANDIDATES: list[Any] = [
    None, True, 0, -1, 1, 7788, 70000, 2.5, "", "x", "ctl1", "Bad Name", "10.77.1.55", "10.77.1.300",
    "10.77.1.0/24", "10.77.1.0/40", "fence_x", "/dev/x", "90m", "keystone", "galera", "quorum",
    [], ["ctl1"], ["keystone", "keystone"], ["nope"], {}, {"k": "v"}, {"wsrep_on": "1"},
    {"secure": "v1:abc"},
]
# The one field rule JSON Schema cannot state: an IPv4 network with host bits set has the
# right shape (a pattern cannot relate the prefix length to the address).
HOST_BITS = "10.77.1.1/24"


def _mutations(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any, Any]]:
    """(path of the node, label, function making the replacement) for every node below `value`."""
    if isinstance(value, dict):
        yield path, "+bogus", lambda v: {**v, "bogus": 1}
        for key in value:
            yield path, f"-{key}", lambda v, k=key: {x: y for x, y in v.items() if x != k}
            yield from _mutations(value[key], (*path, key))
    elif isinstance(value, list):
        yield path, "[]", lambda v: []
        if value:
            yield path, "dup", lambda v: [*v, v[0]]
        for i, item in enumerate(value):
            yield from _mutations(item, (*path, i))
    if len(path) > 1 and not (isinstance(value, dict) and set(value) == {"secure"}):
        for candidate in [*CANDIDATES, HOST_BITS]:
            yield path, f"={candidate!r}", lambda v, c=candidate: copy.deepcopy(c)


def _mutate(doc: dict, path: tuple, change) -> dict:  # type: ignore[no-untyped-def]
    out = copy.deepcopy(doc)
    if not path:
        return change(out)
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = change(node[path[-1]])
    return out


def _lax(mutation: tuple) -> bool:
    """What the models take and the schema deliberately does not offer: pydantic's lax
    coercions (a number as an address, a bare address as a /32 network), a secret where
    plain text goes (the engine decrypts it), and ciphertext that is not a string."""
    *path, label = mutation
    if "secure" in path or label in ("={'secure': 'v1:abc'}", "=True"):  # True is 1 to pydantic
        return True
    address = path[-1] in ("cidr", "address", "bind_address") or path[-2] == "addresses"
    number = label[1:].lstrip("-").replace(".", "").isdigit()
    return address and number or path[-1] == "cidr" and label == "='10.77.1.55'"


def _field_level_ok(doc: dict) -> bool:
    """The models' own rules (types, ranges, patterns, validators) and secrets as ciphertext."""
    try:
        stack = StackConfig.model_validate(config_from_document(doc))
    except ValidationError:
        return False
    return all(is_placeholder(v) for _, v in secret_fields(stack))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # ipaddress on True, which pydantic passes
@pytest.mark.parametrize("name", ["example-aa", "example-ap"])
def test_schema_agrees_with_field_rules(name, validator) -> None:
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{name}.yaml").read_text())
    type_gaps, stricter, cross_field, count = [], [], 0, 0
    for path, label, change in _mutations({"config": doc["config"]}):
        count += 1
        mutated = _mutate({"config": doc["config"]}, path, change)
        schema_ok = validator.is_valid(mutated)
        fields_ok = _field_level_ok(mutated)
        if schema_ok and not fields_ok and label != f"={HOST_BITS!r}":
            type_gaps.append((*path, label))
        elif fields_ok and not schema_ok:
            stricter.append((*path, label))
        elif schema_ok and fields_ok:
            try:
                validate_stack(config_from_document(mutated))
            except StackConfigError:
                cross_field += 1  # a reference, subnet or duplicate: validate's business
    print(f"{name}: {count} mutations, {cross_field} rejected by cross-checks only")
    assert not type_gaps, f"the schema accepts what the models reject: {type_gaps[:20]}"
    stricter = [p for p in stricter if not _lax(p)]
    assert not stricter, f"the schema rejects what the models accept: {stricter[:20]}"
    assert cross_field > 10
