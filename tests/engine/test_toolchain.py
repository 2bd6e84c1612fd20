"""The engine we run is upstream's: what `tools/pulumi-toolchain install` put in place was
built from the upstream modules, and the install refuses upstream archives it cannot verify."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from engine_helpers import REPO, TOOLCHAIN, toolchain_env

pytestmark = pytest.mark.engine

UPSTREAM = REPO.parent / "shared" / "upstream"


def build_info(binary: Path) -> str:
    """`go version -m`: the module path and dependencies Go recorded in the binary."""
    go = shutil.which("go") or "/usr/local/go/bin/go"
    return subprocess.run([go, "version", "-m", str(binary)], capture_output=True, text=True, check=True).stdout


def test_command_plugin_is_the_upstream_provider_on_pulumi_go_provider() -> None:
    env = toolchain_env()
    plugins = Path(env["PULUMI_HOME"]) / "plugins"
    binary = next(plugins.glob("resource-command-v*/pulumi-resource-command"))
    info = build_info(binary)
    assert "\tmod\tgithub.com/pulumi/pulumi-command/provider\t" in info, info
    assert "\tdep\tgithub.com/pulumi/pulumi-go-provider\tv1.3.0" in info, info


def test_language_host_is_the_upstream_python_host() -> None:
    env = toolchain_env()
    host = shutil.which("pulumi-language-python", path=env["PATH"])
    assert host
    info = build_info(Path(host))
    assert "\tmod\tgithub.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3\t" in info, info
    assert "\tdep\tgithub.com/pulumi/pulumi/sdk/v3\tv3.259.0" in info, info


def test_yaml_language_host_is_upstream_pulumi_yaml_with_only_our_listed_patches() -> None:
    env = toolchain_env()
    host = shutil.which("pulumi-language-yaml", path=env["PATH"])
    assert host, "tools/pulumi-toolchain install puts pulumi-language-yaml beside pulumi"
    info = build_info(Path(host))
    assert "\tpath\tgithub.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml\n" in info, info
    assert "\tmod\tgithub.com/pulumi/pulumi-yaml\tv1.25.0" in info, info
    # The pulumi SDK it was released with, not ours: v1.25.0 does not compile against v3.259.0.
    assert "\tdep\tgithub.com/pulumi/pulumi/pkg/v3\tv3.206.0" in info, info
    patches = sorted(p.name for p in (REPO / "tools" / "pulumi-toolchain.d" / "yaml-patches").glob("*.patch"))
    assert patches == ["use-engine-schema-loader.patch"]


def test_no_engine_code_of_our_own_is_left() -> None:
    ours = REPO / "tools" / "pulumi-toolchain.d"
    assert not ours.exists() or not [p for p in ours.rglob("*") if p.suffix in (".go", ".mod", ".sum")]


def install_with(upstream: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HA_UPSTREAM_DIR": str(upstream), "HA_TOOLCHAIN_DIR": str(tmp_path / "prefix"),
           "HA_GO_CACHE_DIR": str(tmp_path / "go")}
    return subprocess.run([str(TOOLCHAIN), "install", "--force"], capture_output=True, text=True, env=env,
                          timeout=60)


def test_install_refuses_an_archive_that_does_not_match_its_checksum(tmp_path: Path) -> None:
    copy = tmp_path / "upstream"
    shutil.copytree(UPSTREAM, copy)
    archive = copy / "pulumi-command-1.2.1-provider.tar.gz"
    archive.chmod(0o644)
    with archive.open("ab") as f:
        f.write(b"tampered")
    done = install_with(copy, tmp_path)
    assert done.returncode != 0
    assert "checksum mismatch" in done.stderr and "pulumi-command-1.2.1-provider.tar.gz: FAILED" in done.stderr
    assert not (tmp_path / "go").exists(), "something was built before the check"


def test_install_without_the_upstream_sources_says_what_is_missing(tmp_path: Path) -> None:
    done = install_with(tmp_path / "nowhere", tmp_path)
    assert done.returncode != 0
    assert f"{tmp_path / 'nowhere'} is missing" in done.stderr and "pulumi-command 1.2.1" in done.stderr

    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(UPSTREAM / "SHA256SUMS", partial)
    done = install_with(partial, tmp_path)
    assert done.returncode != 0 and f"{partial}/pulumi-command-1.2.1-provider.tar.gz is missing" in done.stderr
