"""TLS at the VIP (haproxy.tls): validation, haproxy.cfg checked by `haproxy -c` with a real
certificate, and the resource graph under Pulumi's mocks (key file, endpoints, public VIP)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ha_components import remote
from ha_components.models import StackConfig, validate_stack
from ha_components.models.active_active import frontend_plan
from ha_components.render.openstack import fragment_path
from ha_components.render.haproxy import TLS_PEM_PATH, haproxy_cfg, tls_pem

from .helpers import stack_data, waits_for
from .test_active_active_components import lab_stack, run_program
from .test_config import assert_problem
from .tls_fixture import LabCa, make_lab_ca

PUBLIC = "10.77.1.111"
VIP = "10.77.1.110"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LabCa:
    return make_lab_ca(tmp_path_factory.mktemp("ca"), PUBLIC)


def tls_data(ca: LabCa, **tls: Any) -> dict[str, Any]:
    """lab-aa's config with a public VIP and haproxy.tls (the key as a secret placeholder)."""
    data = stack_data("lab-aa")
    data["vips"].append({"name": "public", "address": PUBLIC})
    data["haproxy"]["tls"] = {"public_vip": "public", "certificate": ca.certificate,
                              "key": "<secret:haproxy.tls.key>", "ca_certificate": ca.ca_certificate, **tls}
    return data


def tls_stack(ca: LabCa) -> StackConfig:
    """The same, with runtime secrets: the real key."""
    return lab_stack(vips=tls_data(ca)["vips"], haproxy={**tls_data(ca)["haproxy"], "tls": {
        **tls_data(ca)["haproxy"]["tls"], "key": ca.key}})


def test_a_tls_stack_validates(ca: LabCa) -> None:
    stack = validate_stack(tls_data(ca))
    assert stack.haproxy and stack.haproxy.tls and stack.haproxy.tls.public_vip == "public"


@pytest.mark.parametrize("field, value, words", [
    ("public_vip", "nope", "not defined in vips"),
    ("public_vip", "api", "must differ from haproxy.vip"),
    ("certificate", "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n", "PEM certificates"),
    ("ca_certificate", "hello", "PEM certificates"),
])
def test_bad_tls_settings_are_rejected_naming_the_field(ca: LabCa, field: str, value: str, words: str) -> None:
    assert_problem(tls_data(ca, **{field: value}), f"haproxy.tls.{field}", words)


def test_a_key_that_is_not_a_pem_private_key_is_rejected(ca: LabCa) -> None:
    data = tls_data(ca)
    data["haproxy"]["tls"]["key"] = ca.certificate
    from .test_config import problems_of  # the key is checked only once it is a real value
    assert any(p.startswith("haproxy.tls.key: ") for p in problems_of(data))


def _checked(cfg: str, pem: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    (tmp_path / "tls.pem").write_text(pem)
    (tmp_path / "haproxy.cfg").write_text(cfg.replace(TLS_PEM_PATH, str(tmp_path / "tls.pem")))
    return subprocess.run([haproxy, "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True, text=True)


def test_haproxy_terminates_tls_on_the_public_vip_and_haproxy_c_checks_the_key(ca: LabCa, tmp_path: Path) -> None:
    stack = tls_stack(ca)
    assert stack.haproxy is not None
    cfg = haproxy_cfg(stack.haproxy, frontend_plan(stack), "10.77.1.11")
    for name, port in (("keystone_public", 5000), ("glance_api", 9292)):
        section = cfg.split(f"listen {name}_tls_cluster\n")[1].split("\n\n")[0]
        assert f"  bind {PUBLIC}:{port} ssl crt {TLS_PEM_PATH}\n" in section
        assert "  mode http\n" in section and "  http-request set-header X-Forwarded-Proto https\n" in section
        assert "  option tcplog\n" not in section and f"server ctl1 10.77.1.11:{port} " in section
        # The internal listener stays plain TCP on the API VIP.
        plain = cfg.split(f"listen {name}_cluster\n")[1].split("\n\n")[0]
        assert f"  bind {VIP}:{port}\n" in plain and "ssl" not in plain and "mode http" not in plain
    assert "keystone_admin_tls" not in cfg and "galera_tls" not in cfg
    done = _checked(cfg, tls_pem(ca.certificate, ca.key), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    wrong = _checked(cfg, tls_pem(ca.certificate, ca.other_key), tmp_path)
    assert wrong.returncode != 0 and "key" in (wrong.stdout + wrong.stderr).lower()


def test_without_tls_nothing_binds_a_public_vip(ca: LabCa) -> None:
    plain = lab_stack()
    assert plain.haproxy is not None
    cfg = haproxy_cfg(plain.haproxy, frontend_plan(plain), "10.77.1.11")
    assert "ssl" not in cfg and "_tls_cluster" not in cfg


def test_the_key_file_is_a_0600_secret_pushed_before_the_config_check(ca: LabCa) -> None:
    program = run_program(tls_stack(ca))
    for node in ("ctl1", "ctl2", "ctl3"):
        pem = program.commands[f"haproxy-{node}-tls-pem"]
        assert pem.inputs["stdin"] == tls_pem(ca.certificate, ca.key)
        assert "stdin" in pem.inputs["secret_inputs"]
        assert "chmod 0600" in pem.create and "chown root:root" in pem.create and TLS_PEM_PATH in pem.create
        assert f"haproxy-{node}-tls-pem" in waits_for(f"haproxy-{node}-config-check")
    key_body = ca.key.strip().splitlines()[1]
    for cmd in program.commands.values():
        assert key_body not in cmd.create, cmd.name


def test_public_endpoints_are_https_on_the_public_vip_internal_stay_http(ca: LabCa) -> None:
    program = run_program(tls_stack(ca))
    endpoints = program.commands["api-endpoints"].create
    assert f"https://{PUBLIC}:9292" in endpoints and f"http://{VIP}:9292" in endpoints
    assert f"http://{PUBLIC}" not in endpoints and f"https://{VIP}" not in endpoints
    assert f"https://{PUBLIC}:5000/v3" in program.commands["keystone-bootstrap"].create
    assert program.outputs["keystone_url"] == f"https://{PUBLIC}:5000/v3"
    assert program.outputs["ca_certificate"] == ca.ca_certificate
    # The controllers' own openstack clients (endpoints, service users) use the internal side.
    assert "export OS_INTERFACE=internal\n" in program.commands["api-admin-openrc"].inputs["stdin"]
    # keystone and glance read X-Forwarded-Proto (version documents say https://).
    for project in ("keystone", "glance"):
        path = remote.slug(fragment_path(project))
        fragment = program.commands[f"api-ctl1-{path}"].inputs["stdin"]
        assert "[oslo_middleware]\nenable_proxy_headers_parsing = true\n" in fragment, project


def test_the_public_vip_follows_the_haproxy_clone(ca: LabCa) -> None:
    program = run_program(tls_stack(ca))
    cib = program.commands["haproxy-public-vip-cib"].inputs["stdin"]
    assert f'name="ip" value="{PUBLIC}"' in cib and 'id="p_ip_public"' in cib
    assert 'rsc="p_ip_public" with-rsc="cl_haproxy"' in cib
    assert "haproxy-cib" in waits_for("haproxy-public-vip-cib")
    plain = run_program(lab_stack())
    assert "haproxy-public-vip-cib" not in plain.commands and "ca_certificate" not in plain.outputs
