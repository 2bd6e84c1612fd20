"""Fixtures for the engine tests; the helpers live in engine_helpers.py."""

import pytest

from engine_helpers import preview_stack, toolchain_env, up_stack


@pytest.fixture(scope="session")
def engine_env() -> dict[str, str]:
    """The toolchain environment; fails (never skips) when the toolchain is missing."""
    return toolchain_env()


@pytest.fixture
def engine_preview(engine_env, tmp_path):
    def run(project_dir, stack_name, config=None, env=None):
        return preview_stack(project_dir, stack_name, config, env, root=tmp_path / f"preview-{stack_name}")

    return run


@pytest.fixture
def engine_up(engine_env, tmp_path):
    def run(project_dir, stack_name, config=None, env=None):
        return up_stack(project_dir, stack_name, config, env, root=tmp_path / f"up-{stack_name}")

    return run
