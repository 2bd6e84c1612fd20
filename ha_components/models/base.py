"""Shared pydantic building blocks: a strict base model and constrained types."""
from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, SecretStr, StringConstraints

# A name that is safe in file names, CIB ids, systemd units and shell words.
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
AbsPath = Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9._/-]*$")]

_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def one_line(text: str) -> str:
    """Text that lands in a config file line (INI value, CIB attribute): no control
    characters (a newline would start a new option), no unencodable surrogates."""
    if _CONTROL.search(text):
        raise ValueError("must be one line without control characters")
    return text


# Plain text written as a value into a config file (quoted where a shell reads it).
Text = Annotated[str, StringConstraints(max_length=4096), AfterValidator(one_line)]
# Words that reach config files, URLs and command lines: no quoting can be forgotten.
HostName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\[][A-Za-z0-9_.:\[\]-]{0,252}$")]
UserName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")]
Region = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
IniKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$")]
IfName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:@-]{1,15}$")]  # a Linux interface name
PackageName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9+.:=~-]{0,127}$")]


def secret_placeholder(path: str) -> str:
    return f"{SECRET_PLACEHOLDER_PREFIX}{path}>"


def is_placeholder(value: SecretStr) -> bool:
    return value.get_secret_value().startswith(SECRET_PLACEHOLDER_PREFIX)


class StrictModel(BaseModel):
    """Unknown keys are errors, values are immutable once validated. A field's docstring is its
    description in the stack file's JSON Schema (ha_components.schema)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def dns_label(name: str) -> str:
    """A CIB/XML-id friendly form of a name (ids may not start with a digit)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def secret_line(value: SecretStr) -> SecretStr:
    """A password that travels in URLs (percent-encoded), INI files, SQL and stdin lines:
    any printable character, but one non-empty line without surrounding spaces."""
    if is_placeholder(value):
        return value
    text = value.get_secret_value()
    if not text or text != text.strip():
        raise ValueError("must be non-empty, without leading or trailing whitespace")
    one_line(text)
    return value

# The value a secret takes when a stack file is read offline (validate/render):
# the real value is Pulumi ciphertext that only the engine decrypts.
SECRET_PLACEHOLDER_PREFIX = "<secret:"
