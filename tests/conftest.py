"""Shared fixtures."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from ha_components.models import StackConfig

from .helpers import make_runtime_stack


@pytest.fixture
def runtime_stack(tmp_path: Path) -> Callable[..., StackConfig]:
    """A shipped stack as the engine would hand it over: secrets decrypted, key file present."""
    return make_runtime_stack(tmp_path)
