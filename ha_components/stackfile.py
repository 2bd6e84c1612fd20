"""Reading a stack's config: from a Pulumi stack file offline, or from the engine at run time.

Offline (validate, render) a `secure:` value is Pulumi ciphertext that only the
engine decrypts: it counts as present and becomes a placeholder. A secret field
given in plain text is an error, so no password lands in git by accident.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .models import Problem, StackConfig, StackConfigError, format_loc, is_placeholder, secret_fields
from .models import secret_placeholder, validate_stack
from .models.stack import Loc

PROJECT = "ha-openstack"
CONFIG_KEYS = tuple(StackConfig.model_fields)


def _decode_secure(value: Any, loc: Loc) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return secret_placeholder(format_loc(loc))
        return {k: _decode_secure(v, (*loc, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_secure(v, (*loc, i)) for i, v in enumerate(value)]
    return value


def config_from_stack_file(path: Path) -> dict[str, Any]:
    """The project's keys of a Pulumi.<stack>.yaml, prefix stripped, secrets as placeholders."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:  # the message names line and column
        raise ValueError(f"not valid YAML: {' '.join(str(err).split())}") from None
    return config_from_document(doc)


def config_from_document(doc: Any) -> dict[str, Any]:
    """config_from_stack_file of an already parsed stack file."""
    if not isinstance(doc, dict):
        raise StackConfigError([Problem((), "a stack file is a YAML mapping with a `config:` key")])
    raw = doc.get("config") or {}
    if not isinstance(raw, dict):
        raise StackConfigError([Problem(("config",), "must be a mapping")])
    data: dict[str, Any] = {}
    for key, value in raw.items():
        namespace, _, name = str(key).partition(":")
        if namespace == PROJECT:
            data[name] = _decode_secure(value, (name,))
    return data


def load_stack_file(path: Path) -> StackConfig:
    """Validate a stack file offline; secrets must be Pulumi ciphertext."""
    return check_offline(config_from_stack_file(path))


def check_offline(data: dict[str, Any]) -> StackConfig:
    """`validate` of a stack file's config (secrets as placeholders) or StackConfigError."""
    stack = validate_stack(data)
    plain = [Problem(loc, "secret stored in plain text; use `pulumi config set --secret --path "
                     f"'{format_loc(loc)}' ...`")
             for loc, value in secret_fields(stack) if not is_placeholder(value)]
    if plain:
        raise StackConfigError(plain)
    return stack


def load_from_engine() -> StackConfig:
    """Inside `pulumi up/preview`: the decrypted config the engine hands the program."""
    return validate_stack(config_from_engine())


def config_from_engine() -> dict[str, Any]:
    """The project's keys of the running stack's config, decrypted, not yet validated (a program
    adds what other resources give, e.g. the hosts: ha_components.inputs.stack_with_inputs)."""
    import pulumi  # only here: the model layer itself never imports pulumi

    data: dict[str, Any] = {}
    for key in CONFIG_KEYS:
        raw = pulumi.runtime.get_config(f"{PROJECT}:{key}")
        if raw is None:
            continue
        try:
            data[key] = json.loads(raw)
        except json.JSONDecodeError:
            data[key] = raw  # plain strings such as the topology
    return data
