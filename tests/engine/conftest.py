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


@pytest.fixture
def sshd(tmp_path):
    """A throwaway sshd on 127.0.0.1 (see sshd.py), stopped after the test."""
    from sshd import Sshd

    server = Sshd.start(tmp_path / "sshd")
    yield server
    server.stop()


@pytest.fixture
def engine_stack(engine_env, tmp_path):
    """engine_stack(project_dir, stack_name) -> EngineStack kept in the test's tmp_path."""
    from engine_helpers import EngineStack

    def make(project_dir, stack_name, env=None):
        return EngineStack(project_dir, stack_name, tmp_path / f"stack-{stack_name}", env)

    return make
