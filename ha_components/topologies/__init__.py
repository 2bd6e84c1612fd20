"""The seed's two topologies, composed from the components."""
from __future__ import annotations

from typing import Any

from ..models import StackConfig


def build(stack: StackConfig) -> dict[str, Any]:
    """Create the stack's resources; returns the outputs __main__ exports."""
    if stack.topology == "active-passive":
        from .active_passive import build_active_passive
        return build_active_passive(stack)
    from .active_active import build_active_active
    return build_active_active(stack)
