"""Rendering of the active/active files: golden files, and the daemons' own checkers.

Golden files live in tests/golden/active_active/; after a reviewed change regenerate
them with `UPDATE_GOLDEN=1 python3 -m pytest tests/test_active_active_render.py`.
"""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ha_components.models import validate_stack
from ha_components.models.active_active import frontend_plan
from ha_components.render import static_file
from ha_components.render.galera import galera_cnf, galera_sst_cnf
from ha_components.render.haproxy import haproxy_cfg
from ha_components.render.rabbitmq import definitions, oslo_messaging_settings, rabbitmq_conf
from ha_components.stackfile import config_from_stack_file

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden" / "active_active"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def load(name: str, **changes):
    """A stack file with SSH keys as inline secrets (render reads no key file)."""
    data = copy.deepcopy(config_from_stack_file(ROOT / "stacks" / name))
    for host in data["hosts"]:
        host["ssh"].pop("private_key_path", None)
        host["ssh"]["private_key"] = f"<secret:hosts.{host['name']}.ssh.private_key>"
    for part, values in changes.items():
        data[part] = {**data[part], **values}
    return validate_stack(data)


@pytest.fixture(scope="module")
def lab_render(tmp_path_factory) -> Path:
    from ha_components.dryrun import render_stack

    out = tmp_path_factory.mktemp("lab-aa")
    render_stack(load("Pulumi.lab-aa.yaml"), out)
    return out


@pytest.fixture(scope="module")
def example_render(tmp_path_factory) -> Path:
    from ha_components.dryrun import render_stack

    out = tmp_path_factory.mktemp("example-aa")
    render_stack(load("Pulumi.example-aa.yaml"), out)
    return out


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing golden file {path} (UPDATE_GOLDEN=1 writes it)"
    assert text == path.read_text(), f"{name} differs from its golden file"


LAB_FILES = {
    "haproxy.cfg": "ctl1/etc/haproxy/haproxy.cfg.ha-openstack",
    "galera.cnf": "ctl1/etc/mysql/mariadb.conf.d/99-ha-openstack-galera.cnf",
    "galera-sst.cnf": "ctl1/etc/mysql/mariadb.conf.d/99-ha-openstack-galera-sst.cnf",
    "ha-galera-health.socket": "ctl1/etc/systemd/system/ha-galera-health.socket",
    "ha-galera-health@.service": "ctl1/etc/systemd/system/ha-galera-health@.service",
    "rabbitmq.conf": "ctl1/etc/rabbitmq/rabbitmq.conf",
    "rabbitmq-env.conf": "ctl1/etc/rabbitmq/rabbitmq-env.conf",
    "rabbitmq-definitions.json": "ctl1/etc/rabbitmq/ha-openstack-definitions.json",
    "memcached.conf": "ctl1/etc/memcached.conf",
    "keystone-fragment.conf": "ctl1/etc/keystone/keystone.conf.d/100-ha-openstack.conf",
    "keystone-default": "ctl1/etc/default/keystone",
    "haproxy-cib.xml": "ctl1/stdin/haproxy-cib.txt",
    "api-vip-cib.xml": "ctl1/stdin/api-cib.txt",
}
EXAMPLE_FILES = {
    "example-haproxy.cfg": "controller1/etc/haproxy/haproxy.cfg.ha-openstack",
    "example-nova-fragment.conf": "controller2/etc/nova/nova.conf.d/100-ha-openstack.conf",
    "example-neutron-fragment.conf": "controller2/etc/neutron/neutron.conf.d/100-ha-openstack.conf",
}


@pytest.mark.parametrize("golden", sorted(LAB_FILES))
def test_lab_files_match_golden(lab_render, golden):
    check_golden(golden, (lab_render / LAB_FILES[golden]).read_text())


@pytest.mark.parametrize("golden", sorted(EXAMPLE_FILES))
def test_example_files_match_golden(example_render, golden):
    check_golden(golden, (example_render / EXAMPLE_FILES[golden]).read_text())


def test_classic_mirrored_definitions_match_golden():
    stack = load("Pulumi.lab-aa.yaml", rabbitmq={"queue_ha": "classic-mirrored"})
    check_golden("rabbitmq-definitions-classic-mirrored.json", definitions(stack.rabbitmq))


def test_render_writes_every_node_its_own_files(lab_render):
    for node, address in (("ctl1", "10.77.1.11"), ("ctl2", "10.77.1.12"), ("ctl3", "10.77.1.13")):
        cnf = (lab_render / node / LAB_FILES["galera.cnf"].split("/", 1)[1]).read_text()
        assert f"wsrep_node_address = {address}\n" in cnf
        assert f"bind-address = {address}\n" in cnf
        conf = (lab_render / node / "etc/rabbitmq/rabbitmq.conf").read_text()
        assert f"listeners.tcp.1 = {address}:5672\n" in conf
        assert f"  bind {address}:8404\n" in (lab_render / node / LAB_FILES["haproxy.cfg"].split("/", 1)[1]).read_text()


# --- the real tools' own checks --------------------------------------------------------

def _need(tool: str) -> str:
    path = shutil.which(tool) or (f"/usr/sbin/{tool}" if Path(f"/usr/sbin/{tool}").exists() else None)
    if path is None:
        pytest.skip(f"{tool} is not installed (apt-get install it; .ci/run does)")
    return path


@pytest.mark.parametrize("which", ["lab", "example"])
def test_haproxy_accepts_the_rendered_config(lab_render, example_render, which, tmp_path):
    haproxy = _need("haproxy")
    path = (lab_render / LAB_FILES["haproxy.cfg"]) if which == "lab" else (
        example_render / EXAMPLE_FILES["example-haproxy.cfg"])
    done = subprocess.run([haproxy, "-c", "-f", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[WARNING]" not in done.stdout + done.stderr, done.stdout + done.stderr


def test_haproxy_check_catches_a_broken_config(lab_render, tmp_path):
    haproxy = _need("haproxy")
    broken = tmp_path / "haproxy.cfg"
    broken.write_text((lab_render / LAB_FILES["haproxy.cfg"]).read_text().replace("balance source", "balance sauce", 1))
    assert subprocess.run([haproxy, "-c", "-f", str(broken)], capture_output=True).returncode != 0


def _mariadbd(defaults: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_need("mariadbd"), f"--defaults-file={defaults}", "--help", "--verbose"],
                          capture_output=True, text=True)


def test_mariadb_parses_the_rendered_galera_options(lab_render, tmp_path):
    _need("mariadbd")
    both = tmp_path / "galera.cnf"
    both.write_text((lab_render / LAB_FILES["galera.cnf"]).read_text()
                    + (lab_render / LAB_FILES["galera-sst.cnf"]).read_text())
    done = _mariadbd(both)
    assert done.returncode == 0, done.stderr
    assert "[ERROR]" not in done.stderr, done.stderr
    values = dict(re.findall(r"^([a-z0-9-]+)[ \t]+(.*)$", done.stdout, re.M))
    assert values["wsrep-cluster-address"] == "gcomm://10.77.1.11,10.77.1.12,10.77.1.13"
    assert values["wsrep-on"] == "TRUE"
    assert values["binlog-format"] == "ROW"
    assert values["innodb-autoinc-lock-mode"] == "2"
    assert values["innodb-doublewrite"] in ("TRUE", "ON", "1")
    assert values["query-cache-size"] == "0"
    assert values["default-storage-engine"] == "InnoDB"
    assert values["bind-address"] == "10.77.1.11"


def test_mariadb_check_catches_an_unknown_option(tmp_path):
    _need("mariadbd")
    bad = tmp_path / "bad.cnf"
    bad.write_text("[mysqld]\nbinlog_formt = ROW\n")
    assert _mariadbd(bad).returncode != 0


def _rabbit_schema_keys() -> list[re.Pattern]:
    schemas = list(Path("/usr/lib/rabbitmq/lib").glob("rabbitmq_server-*/plugins/rabbit-*/priv/schema/rabbit.schema"))
    if not schemas:
        pytest.skip("rabbitmq-server is not installed (its config schema checks rabbitmq.conf)")
    keys = re.findall(r'^\{mapping, "([^"]+)"', schemas[0].read_text(), re.M)
    return [re.compile("^" + re.sub(r"\\\$[a-z_]+", "[^.]+", re.escape(k)) + "$") for k in keys]


def test_rabbitmq_conf_uses_only_keys_of_the_installed_schema(lab_render):
    patterns = _rabbit_schema_keys()
    conf = (lab_render / LAB_FILES["rabbitmq.conf"]).read_text()
    keys = [line.split("=", 1)[0].strip() for line in conf.splitlines() if line and not line.startswith("#")]
    assert "cluster_partition_handling" in keys
    for key in keys:
        assert any(p.match(key) for p in patterns), f"{key} is not a rabbitmq.conf setting"


def test_single_node_rabbitmq_has_no_peer_discovery():
    stack = load("Pulumi.lab-aa.yaml", rabbitmq={"nodes": ["ctl1"], "development": True})
    assert "classic_config" not in rabbitmq_conf(stack.rabbitmq, stack.host("ctl1"))


def test_quorum_queues_by_default_and_the_seed_policy_only_when_asked():
    stack = load("Pulumi.lab-aa.yaml")
    assert json.loads(definitions(stack.rabbitmq))["policies"] == []
    assert oslo_messaging_settings(stack.rabbitmq)["oslo_messaging_rabbit"]["rabbit_quorum_queue"] == "true"
    classic = load("Pulumi.lab-aa.yaml", rabbitmq={"queue_ha": "classic-mirrored"})
    policy = json.loads(definitions(classic.rabbitmq))["policies"][0]
    assert policy["definition"]["ha-mode"] == "all"
    assert policy["pattern"] == r"^(?!amq\.).*"
    assert oslo_messaging_settings(classic.rabbitmq)["oslo_messaging_rabbit"]["rabbit_ha_queues"] == "true"


def test_galera_listener_has_one_writer_and_backups_checked_on_the_health_port():
    stack = load("Pulumi.lab-aa.yaml")
    galera = next(p for p in frontend_plan(stack) if p.name == "galera")
    assert [(s.host, s.backup) for s in galera.servers] == [("ctl1", False), ("ctl2", True), ("ctl3", True)]
    assert galera.check_port == 9200
    cfg = haproxy_cfg(stack.haproxy, frontend_plan(stack), "10.77.1.11")
    assert "server ctl2 10.77.1.12:3306 check port 9200 inter 2000 rise 2 fall 5 backup" in cfg


def test_glance_registry_only_when_asked():
    stack = load("Pulumi.lab-aa.yaml")
    assert "glance_registry" not in {p.name for p in frontend_plan(stack)}
    asked = load("Pulumi.lab-aa.yaml", haproxy={"listeners": ["galera", "glance_registry"]})
    assert "glance_registry" in {p.name for p in frontend_plan(asked)}


def test_secret_values_land_only_in_their_files():
    data = config_from_stack_file(ROOT / "stacks" / "Pulumi.lab-aa.yaml")
    data["galera"]["sst_password"] = "Sst-Pass-0042"
    stack = validate_stack(data)
    host = stack.host("ctl1")
    assert "Sst-Pass-0042" not in galera_cnf(stack.galera, [stack.host(n) for n in stack.galera.nodes], host)
    assert "wsrep_sst_auth = wsrep_sst:Sst-Pass-0042\n" in galera_sst_cnf(stack.galera)


# --- the health endpoint, run for real with a stand-in mysql client ---------------------

@pytest.fixture
def health(tmp_path):
    script = tmp_path / "ha-galera-health"
    script.write_text(static_file("ha-galera-health"))
    script.chmod(0o755)
    fake = tmp_path / "bin"
    fake.mkdir()

    def ask(state: str | None, peer: str, allowed: str = "10.0.0.1 127.0.0.1") -> str:
        mysql = fake / "mysql"
        mysql.write_text("#!/bin/sh\n" + (f"printf 'wsrep_local_state\\t{state}\\n'\n" if state else "exit 1\n"))
        mysql.chmod(0o755)
        env = {"PATH": f"{fake}:/usr/bin:/bin", "REMOTE_ADDR": peer, "HA_ALLOWED": allowed}
        done = subprocess.run(["bash", str(script)], input=b"OPTIONS / HTTP/1.0\r\n\r\n", env=env,
                              capture_output=True, timeout=10)
        assert done.returncode == 0, done.stderr
        return done.stdout.decode()

    return ask


def test_health_endpoint_answers_200_only_when_synced(health):
    ok = health("4", "10.0.0.1")
    assert ok.startswith("HTTP/1.1 200 OK\r\n")
    length = int(re.search(r"Content-Length: (\d+)", ok).group(1))
    assert len(ok.split("\r\n\r\n", 1)[1].encode()) == length
    assert health("2", "10.0.0.1").startswith("HTTP/1.1 503 ")  # Donor/Desynced
    assert health(None, "10.0.0.1").startswith("HTTP/1.1 503 ")  # server down


def test_health_endpoint_refuses_other_clients(health):
    assert health("4", "10.9.9.9").startswith("HTTP/1.1 403 ")
    assert health("4", "::ffff:10.0.0.1").startswith("HTTP/1.1 200 ")


@pytest.mark.parametrize("name", ["ha-galera-health", "ha-galera-recover"])
def test_node_scripts_pass_shellcheck(name, tmp_path):
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    path = tmp_path / name
    path.write_text(static_file(name))
    done = subprocess.run([shellcheck, "-S", "warning", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
