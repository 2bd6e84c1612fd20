"""Pure rendering: validated models in, file and script text out. Never imports pulumi.

Templates only print values; lists, addresses and decisions are computed in the
Python functions of this package.
"""
from __future__ import annotations

from dataclasses import dataclass
import shlex
from importlib import resources
from typing import Any

import jinja2

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("ha_components.render", "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,
)
_ENV.filters["q"] = lambda v: __import__("shlex").quote(str(v))
_ENV.filters["sha256"] = lambda v: __import__("hashlib").sha256(str(v).encode()).hexdigest()[:16]


def render_template(template: str, /, **values: Any) -> str:
    """Render templates/<template>; an undefined variable is an error, never an empty string."""
    return _ENV.get_template(template).render(**values)


def stop_units(*units: str) -> str:
    """The delete script of a command that enabled and started `units`: stop and disable them
    (their data and config stay)."""
    return "systemctl disable --now " + shlex.join(units)


def static_file(name: str) -> str:
    """A file shipped verbatim (e.g. the CIB apply helper pushed to every node)."""
    return resources.files("ha_components.render").joinpath("files", name).read_text()


@dataclass(frozen=True)
class FileSpec:
    """A file a component pushes: its path on the host, text, mode and owner."""

    path: str
    content: str
    mode: str = "0644"
    owner: str = "root"
    group: str = "root"
    secret: bool = False
