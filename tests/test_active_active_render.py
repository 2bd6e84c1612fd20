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
import socket
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest

from ha_components.models import validate_stack
from ha_components.models.active_active import frontend_plan
from ha_components.render import static_file
from ha_components.render.galera import galera_cnf, galera_sst_cnf
from ha_components.render.haproxy import haproxy_cfg
from ha_components.render.rabbitmq import definitions, oslo_messaging_settings, rabbitmq_conf, rabbitmq_members_conf
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
    "galera-members.cnf": "ctl1/etc/mysql/mariadb.conf.d/99-ha-openstack-galera-members.cnf",
    "ha-galera-health.service": "ctl1/etc/systemd/system/ha-galera-health.service",
    "rabbitmq.conf": "ctl1/etc/rabbitmq/rabbitmq.conf",
    "rabbitmq-env.conf": "ctl1/etc/rabbitmq/rabbitmq-env.conf",
    "rabbitmq-members.conf": "ctl1/etc/rabbitmq/conf.d/50-ha-openstack-members.conf",
    "rabbitmq-definitions.json": "ctl1/etc/rabbitmq/ha-openstack-definitions.json",
    "memcached.conf": "ctl1/etc/memcached.conf",
    "keystone-fragment.conf": "ctl1/etc/keystone/keystone.conf.d/100-ha-openstack.conf",
    "keystone-default": "ctl1/etc/default/keystone",
    "haproxy-cib.xml": "ctl1/stdin/haproxy-cib.txt",
    "api-vip-cib.xml": "ctl1/stdin/api-cib.txt",
    "nova-fragment.conf": "ctl1/etc/nova/nova.conf.d/100-ha-openstack.conf",
    "neutron-fragment.conf": "ctl1/etc/neutron/neutron.conf.d/100-ha-openstack.conf",
    "heat-fragment.conf": "ctl1/etc/heat/heat.conf.d/100-ha-openstack.conf",
    "nova-api-metadata-default": "ctl1/etc/default/nova-api-metadata",
    "services-network-cib.xml": "ctl1/stdin/services-network-cib.txt",
    "neutron-l3-agent-dropin.conf": "ctl1/etc/systemd/system/neutron-l3-agent.service.d/ha-openstack.conf",
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



def test_drain_before_controllers_leave_drains_their_servers_in_a_running_haproxy(tmp_path):
    """Issue 17: the leave's first step on every balancer puts the leaving nodes' servers in
    every listener into DRAIN over the admin socket; the others keep taking connections."""
    from ha_components.render import render_template

    haproxy = _need("haproxy")
    sock = tmp_path / "admin.sock"
    listeners = "".join(f"listen {name}\n  bind {tmp_path}/{name}.sock\n" + "".join(
        f"  server {n} 127.0.0.1:{port}\n" for n, port in (("ctl1", 1), ("ctl4", 2), ("ctl5", 3))) for name in ("api", "db"))
    (tmp_path / "haproxy.cfg").write_text(f"global\n  stats socket {sock} mode 600 level admin\n"
                                          f"defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1s\n"
                                          f"  timeout server 1s\n{listeners}")
    running = subprocess.Popen([haproxy, "-db", "-f", str(tmp_path / "haproxy.cfg")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sock.exists(), f"haproxy did not start (exit {running.poll()})"
        script = render_template("scripts/haproxy-drain.sh.j2", leaving=["ctl4", "ctl5"], admin_socket=str(sock),
                                 timeout_seconds=5)
        done = _sh(script, dict(os.environ))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "drained 4 server(s) of ctl4, ctl5" in done.stdout, done.stdout
        stat = subprocess.run(["socat", "-", f"UNIX-CONNECT:{sock}"], input="show stat\n", capture_output=True,
                              text=True, check=True).stdout
        status = {tuple(r[:2]): r[17] for r in (line.split(",") for line in stat.splitlines())
                  if len(r) > 17 and r[1] in ("ctl1", "ctl4", "ctl5")}
        assert status == {(p, n): ("DRAIN" if n != "ctl1" else "no check") for p in ("api", "db")
                          for n in ("ctl1", "ctl4", "ctl5")}, status
    finally:
        running.terminate()
        running.wait(10)

def _mariadbd(defaults: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_need("mariadbd"), f"--defaults-file={defaults}", "--help", "--verbose"],
                          capture_output=True, text=True)


def test_mariadb_parses_the_rendered_galera_options(lab_render, tmp_path):
    _need("mariadbd")
    both = tmp_path / "galera.cnf"
    both.write_text((lab_render / LAB_FILES["galera.cnf"]).read_text()
                    + (lab_render / LAB_FILES["galera-members.cnf"]).read_text()
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
    conf = (lab_render / LAB_FILES["rabbitmq.conf"]).read_text() + (lab_render / LAB_FILES["rabbitmq-members.conf"]).read_text()
    keys = [line.split("=", 1)[0].strip() for line in conf.splitlines() if line and not line.startswith("#")]
    assert "cluster_partition_handling" in keys and "cluster_formation.classic_config.nodes.3" in keys
    for key in keys:
        assert any(p.match(key) for p in patterns), f"{key} is not a rabbitmq.conf setting"


def test_single_node_rabbitmq_has_no_peer_discovery():
    stack = load("Pulumi.lab-aa.yaml", rabbitmq={"nodes": ["ctl1"], "development": True})
    assert "classic_config" not in rabbitmq_conf(stack.rabbitmq, stack.host("ctl1")) + rabbitmq_members_conf(stack.rabbitmq)


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
    # lab-aa's haproxy.galera_check (issue 16); the other listeners keep haproxy.check's default.
    assert "server ctl2 10.77.1.12:3306 check port 9200 inter 500 fastinter 250 downinter 2000 rise 2 fall 2 backup" in cfg
    assert "server ctl2 10.77.1.12:5000 check inter 1000 fastinter 500 downinter 2000 rise 2 fall 3" in cfg


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
    assert "Sst-Pass-0042" not in galera_cnf(stack.galera, host)
    assert "wsrep_sst_auth = wsrep_sst:Sst-Pass-0042\n" in galera_sst_cnf(stack.galera)


# --- the health endpoint, run for real with a stand-in mysql client ---------------------

@contextmanager
def health_endpoint(tmp_path: Path, env: dict, allowed: str = "127.0.0.1") -> Iterator[Callable[[], tuple[int, str]]]:
    """ha-galera-health serving on a free 127.0.0.1 port; yields GET / -> (status, body)."""
    script = tmp_path / "ha-galera-health"
    script.write_text(static_file("ha-galera-health"))
    script.chmod(0o755)
    port = _free_port()
    server = subprocess.Popen([str(script), "127.0.0.1", str(port), *allowed.split()], env=env,
                              stderr=subprocess.PIPE)

    def get() -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()
                time.sleep(0.05)
        yield get
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def fake_mysql(tmp_path) -> tuple[dict, Path, Path]:
    """A mysql client that answers each query on stdin with the wsrep_local_state in `state`
    (exits, as a refused client does, when it is empty) and counts its starts in `starts`."""
    bin_dir, state, starts = tmp_path / "bin", tmp_path / "state", tmp_path / "starts"
    bin_dir.mkdir()
    (bin_dir / "mysql").write_text(
        f'#!/bin/sh\necho >> {starts}\nwhile read -r query; do\n  s=$(cat {state})\n  [ -n "$s" ] || exit 1\n'
        f'  printf "wsrep_local_state\\t%s\\n" "$s"\ndone\n')
    (bin_dir / "mysql").chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin"}, state, starts


def until_answer(get: Callable[[], tuple[int, str]], want: tuple[int, str], timeout: float = 5) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while (got := get()) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    return got


def test_health_endpoint_answers_200_only_when_synced(tmp_path, fake_mysql):
    env, state, _ = fake_mysql
    state.write_text("4")
    with health_endpoint(tmp_path, env) as get:
        assert until_answer(get, (200, "Galera node is Synced\r\n")) == (200, "Galera node is Synced\r\n")
        state.write_text("2")  # Donor/Desynced: seen at the next poll (every 0.25 s)
        started = time.monotonic()
        want = (503, "Galera node is not Synced (wsrep_local_state=2)\r\n")
        assert until_answer(get, want) == want and time.monotonic() - started < 1.5
        state.write_text("")  # mysqld refuses: the client exits
        want = (503, "Galera node is not Synced (wsrep_local_state=down)\r\n")
        assert until_answer(get, want) == want
        state.write_text("4")  # back: a new client
        assert until_answer(get, (200, "Galera node is Synced\r\n")) == (200, "Galera node is Synced\r\n")


def test_health_endpoint_keeps_one_client_and_answers_checks_at_once(tmp_path, fake_mysql):
    env, state, starts = fake_mysql
    state.write_text("4")
    with health_endpoint(tmp_path, env) as get:
        until_answer(get, (200, "Galera node is Synced\r\n"))
        started = time.monotonic()
        answers = [get() for _ in range(30)]
        assert {status for status, _ in answers} == {200}
        assert time.monotonic() - started < 3, "a check waits for no query"
        assert len(starts.read_text().splitlines()) == 1, "one mysql client for every poll and check"


def test_health_endpoint_refuses_other_clients(tmp_path, fake_mysql):
    env, state, _ = fake_mysql
    state.write_text("4")
    with health_endpoint(tmp_path, env, allowed="10.0.0.1") as get:
        time.sleep(0.5)
        assert get() == (403, "not a load balancer\r\n")


@pytest.mark.parametrize("name", ["ha-galera-recover"])
def test_node_scripts_pass_shellcheck(name, tmp_path):
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    path = tmp_path / name
    path.write_text(static_file(name))
    done = subprocess.run([shellcheck, "-S", "warning", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_systemd_accepts_the_health_check_units(lab_render, tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    name = "ha-galera-health.service"
    (tmp_path / name).write_text((lab_render / LAB_FILES[name]).read_text().replace(
        "/usr/local/sbin/ha-galera-health", "/bin/true"))  # verify wants the executable present
    done = subprocess.run([analyze, "verify", str(tmp_path / name)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ha-galera-health" not in done.stderr, done.stderr  # no warning about our units


# --- one real Galera node: the rendered options, the accounts SQL, the health check and the
# recovery probe against mariadbd + galera-4 (no systemd needed; skipped where they are absent)

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def galera_node(lab_render):
    import pwd
    import tempfile

    if os.geteuid() != 0:
        pytest.skip("starting mariadbd as the mysql user needs root")
    for tool in ("mariadbd", "mariadb-install-db", "mysql", "mysqladmin"):
        _need(tool)
    if not Path("/usr/lib/galera/libgalera_smm.so").exists():
        pytest.skip("galera-4 is not installed")
    try:
        mysql_user = pwd.getpwnam("mysql")
    except KeyError:
        pytest.skip("no mysql user (mariadb-server not installed)")
    base = Path(tempfile.mkdtemp(prefix="ha-galera-test-"))
    base.chmod(0o755)
    data, run, bin_dir = base / "data", base / "run", base / "bin"
    for d in (data, run, bin_dir):
        d.mkdir()
    for d in (data, run):
        os.chown(d, mysql_user.pw_uid, mysql_user.pw_gid)
    sock = run / "mysqld.sock"
    for tool in ("mysql", "mysqladmin"):  # the scripts use the default socket: point them here
        shim = bin_dir / tool
        shim.write_text(f"#!/bin/sh\nexec {shutil.which(tool)} --socket={sock} \"$@\"\n")
        shim.chmod(0o755)
    subprocess.run(["mariadb-install-db", "--user=mysql", f"--datadir={data}",
                    "--auth-root-authentication-method=socket"], check=True, capture_output=True)
    port, gport = _free_port(), _free_port()
    rendered = (lab_render / LAB_FILES["galera.cnf"]).read_text() + (lab_render / LAB_FILES["galera-members.cnf"]).read_text()
    rendered = re.sub(r"10\.77\.1\.1[123]", "127.0.0.1", rendered)
    rendered = re.sub(r"gcomm://\S+", "gcomm://", rendered).replace("port = 3306", f"port = {port}")
    # The rendered provider options (galera.suspect_timeout_ms) run too: base_port joins them.
    provider = re.search(r'^wsrep_provider_options = "([^"]*)"\n', rendered, re.M)
    rendered = rendered.replace(provider[0], "") if provider else rendered
    provider_options = (provider[1] + "; " if provider else "") + f"base_port={gport}"
    sst = (lab_render / LAB_FILES["galera-sst.cnf"]).read_text().replace(
        "<secret:galera.sst_password>", "Sst-Pass-123")
    cnf = base / "my.cnf"
    cnf.write_text(f"[mysqld]\ndatadir = {data}\nsocket = {sock}\npid-file = {run}/mysqld.pid\nuser = mysql\n"
                   + rendered + sst + f'wsrep_provider_options = "{provider_options}"\n')
    server = subprocess.Popen(["mariadbd", f"--defaults-file={cnf}", "--wsrep-new-cluster"],
                              stdout=subprocess.DEVNULL, stderr=open(base / "error.log", "w"))
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", GALERA_DATADIR=str(data))
    try:
        for _ in range(60):
            if subprocess.run(["mysqladmin", "ping"], env=env, capture_output=True).returncode == 0:
                break
            if server.poll() is not None:
                pytest.fail("mariadbd exited: " + (base / "error.log").read_text()[-2000:])
            time.sleep(0.5)
        else:
            pytest.fail("mariadbd did not answer: " + (base / "error.log").read_text()[-2000:])
        yield {"env": env, "port": port, "data": data, "server": server}
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def _sh(script: str, env: dict, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], input=stdin, env=env,
                          capture_output=True, text=True, timeout=120)


def test_real_galera_node_runs_the_rendered_config_and_scripts(galera_node):
    from ha_components.render import render_template
    from ha_components.render.galera import accounts_sql
    from ha_components.render.openstack import database_sql

    env = galera_node["env"]
    query = lambda sql: subprocess.run(["mysql", "-N", "-B", "-e", sql], env=env, capture_output=True,  # noqa: E731
                                       text=True, check=True).stdout
    assert query("SHOW GLOBAL STATUS LIKE 'wsrep_local_state_comment'").split() == ["wsrep_local_state_comment", "Synced"]
    assert query("SELECT @@binlog_format, @@innodb_autoinc_lock_mode, @@query_cache_size").split() == ["ROW", "2", "0"]

    # The accounts: twice (idempotent), passwords with quotes and backslashes.
    stack = load("Pulumi.lab-aa.yaml")
    awkward = "Ke'ys\"to\\ne"
    sql = accounts_sql(stack.galera, database_sql({"keystone": "keystone"}, {"keystone": awkward})).replace(
        "<secret:galera.sst_password>", "Sst-Pass-123")
    script = render_template("scripts/galera-accounts.sh.j2", timeout_seconds=30)
    for _ in range(2):
        done = _sh(script, env, sql)
        assert done.returncode == 0, done.stderr
    assert query("SELECT COUNT(*) FROM mysql.user WHERE user = ''").strip() == "0"
    assert "BINLOG MONITOR" in query("SHOW GRANTS FOR 'wsrep_sst'@'localhost'")
    login = subprocess.run([shutil.which("mysql"), "-ukeystone", f"-p{awkward}", "-h127.0.0.1",
                            f"-P{galera_node['port']}", "keystone", "-e", "SELECT 1"], capture_output=True, text=True)
    assert login.returncode == 0, login.stderr

    size = _sh(render_template("scripts/galera-wait-size.sh.j2", size=1, cluster_name="lab-aa",
                               timeout_seconds=10), env)
    assert size.returncode == 0 and "Primary, 1 members" in size.stdout, size.stderr

    with health_endpoint(galera_node["data"].parent, env) as get:  # the real mysql client and server
        assert until_answer(get, (200, "Galera node is Synced\r\n")) == (200, "Galera node is Synced\r\n")

    recover = static_file("ha-galera-recover")
    probe = subprocess.run(["bash", "-c", recover, "ha-galera-recover", "probe"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert probe.stdout.startswith("state=running primary=yes uuid="), probe.stdout + probe.stderr
    uuid = re.search(r"uuid=(\S+)", probe.stdout).group(1)

    # A clean shutdown: the probe reads grastate.dat, this node may bootstrap.
    subprocess.run(["mysqladmin", "shutdown"], env=env, check=True, capture_output=True)
    galera_node["server"].wait(timeout=60)
    probe = subprocess.run(["bash", "-c", recover, "ha-galera-recover", "probe"], env=env,
                           capture_output=True, text=True, timeout=60)
    fields = dict(part.split("=", 1) for part in probe.stdout.split())
    assert fields["state"] == "stopped" and fields["uuid"] == uuid, probe.stdout
    assert int(fields["seqno"]) > 0 and fields["safe_to_bootstrap"] == "1"


# --- one real RabbitMQ node: the rendered rabbitmq.conf and the users/definitions/wait scripts

@pytest.fixture
def rabbit_node():
    import tempfile

    if os.geteuid() != 0:
        pytest.skip("the test broker runs as root with its own HOME and ports")
    sbin = Path("/usr/lib/rabbitmq/bin")
    if not (sbin / "rabbitmq-server").exists():
        pytest.skip("rabbitmq-server is not installed")
    base = Path(tempfile.mkdtemp(prefix="ha-rabbit-test-"))
    for d in ("home", "mnesia", "log", "bin"):
        (base / d).mkdir()
    cookie = base / "home" / ".erlang.cookie"
    cookie.write_text("HaOpenstackTestCookie0042")
    cookie.chmod(0o400)
    amqp, dist, epmd = _free_port(), _free_port(), _free_port()
    stack = load("Pulumi.lab-aa.yaml", rabbitmq={"nodes": ["ctl1"], "development": True})
    conf = rabbitmq_conf(stack.rabbitmq, stack.host("ctl1")).replace("10.77.1.11:5672", f"127.0.0.1:{amqp}")
    (base / "rabbitmq.conf").write_text(conf)
    (base / "enabled_plugins").write_text("[].\n")
    env = dict(os.environ, HOME=str(base / "home"), RABBITMQ_NODENAME="rabbit@localhost",
               RABBITMQ_CONFIG_FILE=str(base / "rabbitmq.conf"), RABBITMQ_MNESIA_BASE=str(base / "mnesia"),
               RABBITMQ_LOG_BASE=str(base / "log"), RABBITMQ_DIST_PORT=str(dist),
               RABBITMQ_ENABLED_PLUGINS_FILE=str(base / "enabled_plugins"), ERL_EPMD_PORT=str(epmd))
    for tool in ("rabbitmqctl", "rabbitmq-diagnostics"):
        shim = base / "bin" / tool
        shim.write_text(f"#!/bin/sh\nexec {sbin / tool} \"$@\"\n")
        shim.chmod(0o755)
    env["PATH"] = f"{base / 'bin'}:{env['PATH']}"
    server = subprocess.Popen([str(sbin / "rabbitmq-server")], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            if subprocess.run(["rabbitmqctl", "await_startup", "--timeout", "5"], env=env,
                              capture_output=True).returncode == 0:
                break
            if server.poll() is not None:
                pytest.fail("rabbitmq-server exited; see its log under " + str(base / "log"))
            time.sleep(0.5)
        else:
            pytest.fail("rabbitmq-server did not start")
        yield {"env": env, "base": base, "amqp": amqp}
    finally:
        subprocess.run(["rabbitmqctl", "stop"], env=env, capture_output=True, timeout=60)
        if server.poll() is None:
            server.terminate()
        server.wait(timeout=60)
        epmd_bin = next(Path("/usr/lib/erlang").glob("erts-*/bin/epmd"), None)
        if epmd_bin:
            subprocess.run([str(epmd_bin), "-kill"], env=env, capture_output=True, timeout=30)
        shutil.rmtree(base, ignore_errors=True)


def test_real_rabbitmq_node_takes_the_rendered_config_users_and_definitions(rabbit_node):
    from ha_components.render import render_template
    from ha_components.render.rabbitmq import users_stdin, vhosts

    env, base = rabbit_node["env"], rabbit_node["base"]
    awkward = "p'a\"ss\\word $x"
    stack = load("Pulumi.lab-aa.yaml", rabbitmq={
        "nodes": ["ctl1"], "development": True, "queue_ha": "classic-mirrored",
        "users": [{"name": "openstack", "password": awkward},
                  {"name": "monitor", "password": "m0nitor", "vhost": "ops", "tags": ["monitoring"]}]})
    spec = stack.rabbitmq
    for _ in range(2):  # a re-run changes passwords in place
        done = _sh(render_template("scripts/rabbitmq-users.sh.j2", users=spec.users, timeout_seconds=30),
                   env, users_stdin(spec))
        assert done.returncode == 0, done.stderr
    path = base / "definitions.json"
    path.write_text(definitions(spec))
    done = _sh(render_template("scripts/rabbitmq-definitions.sh.j2", path=str(path), classic_mirrored=True,
                               vhosts=vhosts(spec), timeout_seconds=30), env)
    assert done.returncode == 0, done.stdout + done.stderr
    done = _sh(render_template("scripts/rabbitmq-wait.sh.j2", nodes=["rabbit@localhost"], timeout_seconds=30), env)
    assert done.returncode == 0, done.stderr

    ctl = lambda *args: subprocess.run(["rabbitmqctl", "--quiet", *args], env=env, capture_output=True,  # noqa: E731
                                       text=True, timeout=60)
    assert ctl("authenticate_user", "openstack", awkward).returncode == 0
    assert ctl("authenticate_user", "monitor", "m0nitor").returncode == 0
    users = ctl("list_users", "--no-table-headers").stdout
    assert "guest" not in users and "monitoring" in users
    assert "ha-all" in ctl("list_policies", "--no-table-headers").stdout
    assert "monitor" in ctl("list_permissions", "-p", "ops", "--no-table-headers").stdout


def test_nasty_password_through_transport_url_reaches_a_real_broker(rabbit_node):
    """The users script sets a password with @ / : # ? % $ ' ; the rendered transport_url,
    split and decoded as oslo.messaging does (urlsplit + unquote), logs in over AMQP."""
    import pika
    from urllib.parse import unquote, urlsplit

    from ha_components.render import render_template
    from ha_components.render.rabbitmq import cluster_transport_url, users_stdin, vhosts

    from .test_input_safety import NASTY_PASSWORD

    env, base = rabbit_node["env"], rabbit_node["base"]
    stack = load("Pulumi.lab-aa.yaml", rabbitmq={
        "nodes": ["ctl1"], "development": True, "users": [{"name": "openstack", "password": NASTY_PASSWORD}]})
    spec = stack.rabbitmq
    done = _sh(render_template("scripts/rabbitmq-users.sh.j2", users=spec.users, timeout_seconds=30),
               env, users_stdin(spec))
    assert done.returncode == 0, done.stderr
    path = base / "definitions.json"
    path.write_text(definitions(spec))
    done = _sh(render_template("scripts/rabbitmq-definitions.sh.j2", path=str(path), classic_mirrored=False,
                               vhosts=vhosts(spec), timeout_seconds=30), env)
    assert done.returncode == 0, done.stdout + done.stderr
    url = urlsplit(cluster_transport_url(spec, [stack.host("ctl1")]))
    assert url.hostname == "10.77.1.11" and url.port == 5672
    credentials = pika.PlainCredentials(unquote(url.username or ""), unquote(url.password or ""))
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", rabbit_node["amqp"], "/", credentials, connection_attempts=3, retry_delay=1))
    assert conn.is_open
    conn.close()


def test_hosts_block_is_replaced_in_place_and_idempotent(tmp_path):
    from ha_components.render import render_template
    from ha_components.render.rabbitmq import hosts_entries

    stack = load("Pulumi.lab-aa.yaml")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n10.0.0.9 other\n")
    script = render_template("scripts/hosts-block.sh.j2", path=str(hosts), owner="rabbitmq",
                             lines=hosts_entries(stack.rabbitmq, [stack.host(n) for n in stack.rabbitmq.nodes]))
    inode = hosts.stat().st_ino
    for _ in range(2):
        assert subprocess.run(["bash", "-euo", "pipefail", "-c", script]).returncode == 0
    assert hosts.read_text() == ("127.0.0.1 localhost\n10.0.0.9 other\n# BEGIN ha-openstack rabbitmq\n"
                                 "10.77.1.11 ctl1\n10.77.1.12 ctl2\n10.77.1.13 ctl3\n# END ha-openstack rabbitmq\n")
    assert hosts.stat().st_ino == inode  # rewritten in place, never replaced
    changed = script.replace("10.77.1.13 ctl3", "10.77.1.14 ctl3")
    assert subprocess.run(["bash", "-euo", "pipefail", "-c", changed]).returncode == 0
    assert hosts.read_text().count("ctl3") == 1 and "10.77.1.14 ctl3" in hosts.read_text()


def test_nasty_service_password_through_sql_and_url_reaches_a_real_server(galera_node):
    """A password with @ / : # ? % $ ' : the rendered SQL creates the user, the rendered
    database URL (percent-encoded, decoded as SQLAlchemy does) logs in with it."""
    import pymysql
    from urllib.parse import unquote

    from ha_components.render.openstack import database_sql, sqlalchemy_url

    from .test_input_safety import NASTY_PASSWORD, SQLALCHEMY_URL

    # mariadb-install-db's anonymous ''@localhost would shadow glance@% on a local login
    anonymous = "DELETE FROM mysql.global_priv WHERE User = ''; FLUSH PRIVILEGES;\n"
    sql = anonymous + database_sql({"glance": "glance"}, {"glance": NASTY_PASSWORD})
    done = subprocess.run(["mysql"], input=sql, env=galera_node["env"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    url = SQLALCHEMY_URL.match(sqlalchemy_url("glance", NASTY_PASSWORD, f"127.0.0.1:{galera_node['port']}"))
    conn = pymysql.connect(host=url["ipv4"], port=int(url["port"]), user=unquote(url["username"]),
                           password=unquote(url["password"]), database=url["database"])
    with conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER()")
        assert cur.fetchone()[0] == "glance@%"
    conn.close()
