"""The seed's two topologies, composed from the components."""
from __future__ import annotations

from typing import Any

import pulumi

from ..models import StackConfig


def build(stack: StackConfig, parent: pulumi.Resource | None = None) -> dict[str, Any]:
    """Create the stack's resources (children of `parent`, else of the stack); returns the
    outputs __main__ exports."""
    if stack.topology == "active-passive":
        from .active_passive import build_active_passive
        return build_active_passive(stack, parent)
    from .active_active import build_active_active
    return build_active_active(stack, parent)
