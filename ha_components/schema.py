"""`python -m ha_components schema`: the JSON Schema of a stack file, generated from the models.

The schema describes the whole `Pulumi.<stack>.yaml` (editors apply it to the file through a
yaml-language-server modeline), with the `ha-openstack:` keys under `config`. It is JSON
Schema draft-07, which yaml-language-server supports fully. A secret is a Pulumi ciphertext
object (`{secure: v1:...}`), never a plain string, as `validate` requires.

The schema checks what each field may hold; the cross-checks between fields (references,
subnets, duplicates, fencing coverage) stay with `validate`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .catalog import SERVICES
from .models import StackConfig
from .models.galera import SEED_OPTIONS
from .models.haproxy import SEED_LISTENERS

PROJECT = "ha-openstack"
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "stack.schema.json"
DRAFT = "http://json-schema.org/draft-07/schema#"

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4 = rf"^{_OCTET}(\.{_OCTET}){{3}}$"
IPV4_NETWORK = rf"^{_OCTET}(\.{_OCTET}){{3}}/(3[0-2]|[12]?[0-9])$"

SECRET: dict[str, Any] = {
    "type": "object",
    "description": "A Pulumi secret: ciphertext written by `pulumi config set --secret --path "
                   "'<key path>' <value>`. Plain text is refused.",
    "properties": {"secure": {"type": "string", "minLength": 1, "description": "Pulumi ciphertext"}},
    "required": ["secure"],
    "additionalProperties": False,
    "examples": [{"secure": "v1:0123456789abcdef:ciphertext=="}],
}

# Field rules the models implement in validators, stated in JSON Schema: definition -> property -> extra.
_SEED_OPTION_NAMES = "|".join(name.replace("_", "[_-]") for name in sorted(SEED_OPTIONS))
FIELD_EXTRAS: dict[str, dict[str, dict[str, Any]]] = {
    "OpenStackSpec": {"services": {"items": {"type": "string", "enum": sorted(SERVICES)}, "uniqueItems": True}},
    "HaproxySpec": {"listeners": {"items": {"type": "string", "enum": sorted(SEED_LISTENERS)}}},
    "GaleraSpec": {"options": {
        "propertyNames": {"pattern": "^[A-Za-z0-9_-]+$",
                          "not": {"pattern": f"^(wsrep.*|{_SEED_OPTION_NAMES})$"}},
        "additionalProperties": {"type": "string", "pattern": "^[^\\n]*$"}}},
}
# SshEndpoint's validator: exactly one of the two key fields.
MODEL_EXTRAS: dict[str, dict[str, Any]] = {
    "SshEndpoint": {"oneOf": [
        {"required": ["private_key_path"], "properties": {"private_key_path": {"type": "string"}}},
        {"required": ["private_key"], "properties": {"private_key": {"type": "object"}}}]},
}

_STACK_FILE_KEYS: dict[str, dict[str, Any]] = {
    "encryptionsalt": {"type": "string", "description": "Salt of the passphrase secrets provider (written by Pulumi)."},
    "secretsprovider": {"type": "string", "description": "Secrets provider URL, e.g. awskms://..., "
                        "gcpkms://..., azurekeyvault://..., hashivault://... (default: passphrase)."},
    "encryptedkey": {"type": "string", "description": "Data key encrypted by a cloud secrets provider (written by Pulumi)."},
    "environment": {"description": "Pulumi ESC environments imported into the stack."},
}


def config_schema() -> dict[str, Any]:
    """The models' own schema, made draft-07 and stack-file shaped (secrets as ciphertext)."""
    raw = StackConfig.model_json_schema(ref_template="#/definitions/{model}")
    defs = raw.pop("$defs", {})
    defs["StackConfig"] = raw
    for name, definition in defs.items():
        for prop, extra in FIELD_EXTRAS.get(name, {}).items():
            definition["properties"][prop].update(extra)
        definition.update(MODEL_EXTRAS.get(name, {}))
    defs = {name: _fix(d, top=True) for name, d in defs.items()}
    defs["Secret"] = SECRET
    return defs


def _fix(node: Any, top: bool = False) -> Any:
    if isinstance(node, list):
        return [_fix(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("format") == "password":  # SecretStr
        extra = {k: v for k, v in node.items() if k in ("description", "examples")}
        return _ref("#/definitions/Secret", extra)
    out = {k: _fix(v) for k, v in node.items() if k != "title" or top}
    if out.get("format") == "ipv4":
        out["pattern"] = IPV4
    elif out.get("format") == "ipv4network":
        del out["format"]
        out["pattern"] = IPV4_NETWORK
    if "patternProperties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False  # dict[Name, ...]: other keys are refused
    if isinstance(out.get("additionalProperties"), dict) or "patternProperties" in out:
        # A free-form mapping holding only `secure` is a secret to Pulumi, not a mapping.
        out["not"] = {"required": ["secure"], "maxProperties": 1}
    if "properties" in out:  # field names are not schemas: keep them as written
        out["properties"] = {k: _fix(v) for k, v in node["properties"].items()}
    if "$ref" in out and len(out) > 1:  # draft-07 ignores siblings of $ref
        ref = out.pop("$ref")
        return _ref(ref, out)
    return out


def _ref(ref: str, siblings: dict[str, Any]) -> dict[str, Any]:
    return {"allOf": [{"$ref": ref}], **siblings} if siblings else {"$ref": ref}


def stack_file_schema() -> dict[str, Any]:
    """The schema of a whole `Pulumi.<stack>.yaml`."""
    defs = config_schema()
    stack = defs.pop("StackConfig")
    config = {
        "type": "object",
        "description": f"Stack configuration; this project's keys are `{PROJECT}:<key>`.",
        "properties": {f"{PROJECT}:{key}": value for key, value in stack["properties"].items()},
        "required": [f"{PROJECT}:{key}" for key in stack.get("required", [])],
        # Other namespaces (pulumi:, command:, ...) are the engine's and providers' business.
        "patternProperties": {f"^(?!{PROJECT}:)": {}},  # no escapes: ECMA's unicode mode refuses `\-`
        "additionalProperties": False,
    }
    return {
        "$schema": DRAFT,
        "title": "ha-openstack stack file (Pulumi.<stack>.yaml)",
        "description": "Generated by `python -m ha_components schema` from ha_components/models; "
                       "do not edit by hand.",
        "type": "object",
        "properties": {**_STACK_FILE_KEYS, "config": config},
        "required": ["config"],
        "definitions": dict(sorted(defs.items())),
    }


def schema_text() -> str:
    return json.dumps(stack_file_schema(), indent=2, ensure_ascii=False) + "\n"
