"""Shared pydantic building blocks: a strict base model and constrained types."""
from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, SecretStr, StringConstraints

# A name that is safe in file names, CIB ids, systemd units and shell words.
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
AbsPath = Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9._/-]*$")]

# The value a secret takes when a stack file is read offline (validate/render):
# the real value is Pulumi ciphertext that only the engine decrypts.
SECRET_PLACEHOLDER_PREFIX = "<secret:"


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
