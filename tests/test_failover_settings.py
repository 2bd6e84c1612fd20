"""Issue 16: the settings for the time to detect and recover a failure.

Each setting is validated (a bad value names its field, before any host is touched), reaches
the file or CIB object it is for, and changing it changes only what it should on the next `up`.
"""
from __future__ import annotations

import copy
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from ha_components.dryrun import record
from ha_components.models import validate_stack
from ha_components.models.active_active import frontend_plan
from ha_components.render.corosync import corosync_conf
from ha_components.render.haproxy import haproxy_cfg

from .helpers import ROOT, assert_problem, corosync_test, problems, stack_data


def edited(name: str, edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = stack_data(name)
    edit(data)
    return data


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """`pacemaker.fencing.timeout` = value (dicts made on the way)."""
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value


# --- validation -------------------------------------------------------------------------

def test_shipped_stacks_real_token_and_consensus() -> None:
    """corosync's token_coefficient: 3000 ms becomes 3650 on three nodes, consensus 1.2 x that.
    lab-aa drops the coefficient (issue 16): 1500 ms, consensus 1800 ms."""
    lab = validate_stack(stack_data("lab-aa")).pacemaker
    assert (lab.real_token_ms, lab.real_consensus_ms) == (1500, 1800)
    example = validate_stack(stack_data("example-aa")).pacemaker
    assert (example.real_token_ms, example.real_consensus_ms) == (3650, 4380)
    two = validate_stack(stack_data("example-ap")).pacemaker
    assert len(two.nodes) == 2 and (two.real_token_ms, two.real_consensus_ms) == (3000, 3600)


@pytest.mark.parametrize("consensus, ok", [(3600, False), (4379, False), (4380, True), (6000, True)])
def test_consensus_at_least_1_2_times_the_real_token(consensus: int, ok: bool) -> None:
    """Three nodes, default token: the real token is 3650 ms, so corosync's own 3600 is too little."""
    data = edited("lab-aa", lambda d: (d["pacemaker"].pop("token_ms", None),
                                       d["pacemaker"].pop("token_coefficient_ms", None),
                                       set_path(d, "pacemaker.consensus_ms", consensus)))
    if ok:
        assert problems(data) == []
    else:
        assert_problem(data, "pacemaker.consensus_ms", "1.2 x the real token", "3650 ms", "4380")


def test_consensus_follows_token_and_coefficient() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["pacemaker"].update(token_ms=1000, token_coefficient_ms=0, consensus_ms=1200)

    assert problems(edited("lab-aa", edit)) == []
    data = edited("lab-aa", lambda d: (edit(d), d["pacemaker"].update(token_coefficient_ms=100)))
    assert_problem(data, "pacemaker.consensus_ms", "token 1000 + 1 x token_coefficient 100 = 1100 ms", "1320")


@pytest.mark.parametrize("path, value, field", [
    ("pacemaker.token_ms", 100, "pacemaker.token_ms"),
    ("pacemaker.token_ms", "3s", "pacemaker.token_ms"),
    ("pacemaker.consensus_ms", 0, "pacemaker.consensus_ms"),
    ("pacemaker.token_coefficient_ms", -1, "pacemaker.token_coefficient_ms"),
    ("pacemaker.link_mode", "fast", "pacemaker.link_mode"),
    ("pacemaker.links", [{"ping_interval_ms": 10, "ping_timeout_ms": 100}], "pacemaker.links[0].ping_interval_ms"),
    ("pacemaker.links", [{"pong_count": 0}], "pacemaker.links[0].pong_count"),
    ("pacemaker.links", [{"priority": 256}], "pacemaker.links[0].priority"),
    ("pacemaker.links", [{"ping": 1}], "pacemaker.links[0].ping"),
    ("pacemaker.fencing.timeout", "soon", "pacemaker.fencing.timeout"),
    ("pacemaker.fencing.two_node_delay", "15 s", "pacemaker.fencing.two_node_delay"),
    ("pacemaker.resources.vip_monitor_interval", "10x", "pacemaker.resources.vip_monitor_interval"),
    ("pacemaker.resources.vip_monitor_interval", "0s", "pacemaker.resources.vip_monitor_interval"),
    ("pacemaker.resources.vip_monitor_timeout", "500ms", "pacemaker.resources.vip_monitor_timeout"),
    ("pacemaker.resources.vip_start_stop_timeout", "0s", "pacemaker.resources.vip_start_stop_timeout"),
    ("pacemaker.resources.on_fail", "reboot", "pacemaker.resources.on_fail"),
    ("pacemaker.resources.migration_threshold", 0, "pacemaker.resources.migration_threshold"),
    ("pacemaker.resources.failure_timeout", "10min", "pacemaker.resources.failure_timeout"),  # no threshold
    ("haproxy.check.inter_ms", 10, "haproxy.check.inter_ms"),
    ("haproxy.check.fall", 0, "haproxy.check.fall"),
    ("haproxy.check.rise", 0, "haproxy.check.rise"),
    ("haproxy.check.fastinter_ms", 1500, "haproxy.check.fastinter_ms"),  # more than inter 1000
    ("haproxy.galera_check", {"inter_ms": 500, "fastinter_ms": 600}, "haproxy.galera_check.fastinter_ms"),
    ("haproxy.galera_check", {"downinter": 1}, "haproxy.galera_check.downinter"),
    ("galera.suspect_timeout_ms", 500, "galera.suspect_timeout_ms"),
    ("galera.suspect_timeout_ms", 15000, "galera.suspect_timeout_ms"),  # not below evs.inactive_timeout
])
def test_bad_value_names_its_field(path: str, value: Any, field: str) -> None:
    assert_problem(edited("lab-aa", lambda d: set_path(d, path, value)), field)


def test_knet_link_rules() -> None:
    def links(*items: dict[str, int]) -> dict[str, Any]:
        """lab-aa with corosync's default token (real token 3650 ms on three nodes) and these links."""
        return edited("lab-aa", lambda d: (d["pacemaker"].pop("token_ms", None),
                                           d["pacemaker"].pop("token_coefficient_ms", None),
                                           d["pacemaker"].__setitem__("links", list(items))))

    assert problems(links({"ping_interval_ms": 250, "ping_timeout_ms": 1000, "pong_count": 2},
                          {"ping_interval_ms": 500, "ping_timeout_ms": 2000, "priority": 10})) == []
    assert_problem(links({}, {}, {}), "pacemaker.links", "3 links configured", "2 cluster address(es)")
    assert_problem(links({"ping_interval_ms": 250}), "pacemaker.links[0].ping_timeout_ms", "are a pair")
    assert_problem(links({}, {"ping_timeout_ms": 1000}), "pacemaker.links[1].ping_interval_ms", "are a pair")
    assert_problem(links({"ping_interval_ms": 500, "ping_timeout_ms": 500}),
                   "pacemaker.links[0].ping_timeout_ms", "more than ping_interval_ms")
    assert_problem(links({"ping_interval_ms": 500, "ping_timeout_ms": 3650}),
                   "pacemaker.links[0].ping_timeout_ms", "less than the real token", "3650 ms")


def test_fence_delay_must_fit_in_the_fence_timeout() -> None:
    """example-ap is a two-node cluster: every device gets pcmk_delay_max = two_node_delay."""
    assert problems(edited("example-ap", lambda d: set_path(d, "pacemaker.fencing.timeout", "20s"))) == []
    assert_problem(edited("example-ap", lambda d: set_path(d, "pacemaker.fencing.timeout", "15s")),
                   "pacemaker.fencing.two_node_delay", "shorter than the fence timeout", "stonith-timeout 15s")
    # Pacemaker's own 60 s when unset.
    assert_problem(edited("example-ap", lambda d: set_path(d, "pacemaker.fencing.two_node_delay", "1min")),
                   "pacemaker.fencing.two_node_delay", "stonith-timeout 60s")
    # A three-node cluster has no delay: no rule.
    assert problems(edited("lab-aa", lambda d: set_path(d, "pacemaker.fencing.timeout", "5s"))) == []


def test_stonith_timeout_is_set_in_one_place() -> None:
    data = edited("lab-aa", lambda d: (set_path(d, "pacemaker.fencing.timeout", "30s"),
                                       set_path(d, "pacemaker.properties", {"stonith-timeout": "40s"})))
    assert_problem(data, "pacemaker.properties.stonith-timeout", "pacemaker.fencing.timeout")


def test_bad_stack_file_fails_validate_before_any_host(tmp_path: Path) -> None:
    """`validate` (and the program, which validates first) refuses it offline, naming the field."""
    text = (ROOT / "stacks" / "Pulumi.lab-aa.yaml").read_text()
    doc = yaml.safe_load(text)
    doc["config"]["ha-openstack:pacemaker"]["consensus_ms"] = 1000  # lab-aa's real token: 1500 ms
    bad = tmp_path / "Pulumi.lab-aa.yaml"
    bad.write_text(yaml.safe_dump(doc))
    done = subprocess.run([sys.executable, "-m", "ha_components", "validate", str(bad)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode != 0
    assert "pacemaker.consensus_ms: " in done.stdout + done.stderr, done.stdout + done.stderr


# --- rendering --------------------------------------------------------------------------

TIMING = {"token_ms": 1000, "token_coefficient_ms": 0, "consensus_ms": 1200, "link_mode": "active",
          "links": [{"ping_interval_ms": 200, "ping_timeout_ms": 800, "pong_count": 3, "priority": 20},
                    {"priority": 10}]}


def timed(**pacemaker: Any) -> dict[str, Any]:
    data = stack_data("lab-aa")
    data["pacemaker"].update(copy.deepcopy(pacemaker))
    return data


def test_corosync_conf_carries_the_timing() -> None:
    stack = validate_stack(timed(**TIMING))
    hosts = [stack.host(n) for n in stack.pacemaker.nodes]
    text = corosync_conf(stack.pacemaker, hosts)
    for line in ("    link_mode: active\n", "    token: 1000\n", "    token_coefficient: 0\n",
                 "    consensus: 1200\n"):
        assert line in text, line
    assert ("    interface {\n        linknumber: 0\n        knet_ping_interval: 200\n"
            "        knet_ping_timeout: 800\n        knet_pong_count: 3\n        knet_link_priority: 20\n    }\n"
            "    interface {\n        linknumber: 1\n        knet_link_priority: 10\n    }\n") in text
    default = corosync_conf(validate_stack(stack_data("lab-aa")).pacemaker, hosts)
    assert "consensus" not in default and "knet_" not in default and "link_mode: passive" in default


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_corosync_accepts_the_timing(tmp_path: Path) -> None:
    """`corosync -t` on ctl1's addresses (as tests/test_render.py does for the default config)."""
    stack = validate_stack(timed(**TIMING))
    hosts = [stack.host(n) for n in stack.pacemaker.nodes]
    result = corosync_test(stack.pacemaker, hosts, hosts[0].addresses, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_haproxy_check_timing_per_listener() -> None:
    data = stack_data("lab-aa")
    data["haproxy"]["check"] = {"inter_ms": 2000, "fastinter_ms": 1000, "downinter_ms": 4000, "fall": 4, "rise": 3}
    data["haproxy"]["galera_check"] = {"inter_ms": 500, "fastinter_ms": 250, "fall": 2}
    stack = validate_stack(data)
    text = haproxy_cfg(stack.haproxy, frontend_plan(stack), "10.77.1.11")
    galera = text.split("listen galera_cluster", 1)[1].split("\nlisten ", 1)[0]
    keystone = text.split("listen keystone_public_cluster", 1)[1].split("\nlisten ", 1)[0]
    assert "check port 9200 inter 500 fastinter 250 downinter 2000 rise 2 fall 2 backup" in galera
    assert "check inter 2000 fastinter 1000 downinter 4000 rise 3 fall 4" in keystone
    assert " inter 2000 " not in galera
    # Unset: galera follows haproxy.check.
    del data["haproxy"]["galera_check"]
    stack = validate_stack(data)
    galera = haproxy_cfg(stack.haproxy, frontend_plan(stack), "10.77.1.11").split("listen galera_cluster", 1)[1]
    assert "check port 9200 inter 2000 fastinter 1000 downinter 4000 rise 3 fall 4" in galera.split("\nlisten ", 1)[0]


def lab_aa(edit: Callable[[dict[str, Any]], None] | None = None):  # type: ignore[no-untyped-def]
    """lab-aa as the engine hands it over (valid secrets, an inline SSH key), edited."""
    from .test_active_active_components import real_secrets

    data = stack_data("lab-aa")
    for host in data["hosts"]:
        host["ssh"].pop("private_key_path")
        host["ssh"]["private_key"] = f"<secret:hosts.{host['name']}.ssh.private_key>"
    if edit:
        edit(data)
    return validate_stack(real_secrets(data, []))


def test_galera_suspect_timeout_reaches_wsrep_provider_options() -> None:
    from ha_components.render.galera import galera_cnf

    data = stack_data("lab-aa")
    data["galera"]["suspect_timeout_ms"] = 1500
    stack = validate_stack(data)
    hosts = [stack.host(n) for n in stack.galera.nodes]
    text = galera_cnf(stack.galera, hosts[0])
    # Galera refuses to start when evs.keepalive_period (1 s) is not below a third of it.
    assert 'wsrep_provider_options = "evs.suspect_timeout=PT1.5S; evs.keepalive_period=PT0.375S"\n' \
        in text.split("[galera]")[1]
    del data["galera"]["suspect_timeout_ms"]
    stack = validate_stack(data)
    assert "wsrep_provider_options" not in galera_cnf(stack.galera, hosts[0])


@pytest.fixture
def runtime():  # type: ignore[no-untyped-def]
    return lambda name, edit=None: lab_aa(edit)


def cib_of(stack) -> dict[str, ET.Element]:  # type: ignore[no-untyped-def]
    return {name.removesuffix("-cib"): ET.fromstring(inputs["stdin"]) for name, inputs in record(stack)
            if name.endswith("-cib")}


def test_cib_carries_the_fence_timeout_and_the_resource_policy(runtime) -> None:
    stack = runtime("lab-aa", lambda d: (
        set_path(d, "pacemaker.fencing.timeout", "45s"),
        set_path(d, "pacemaker.resources", {"vip_monitor_interval": "5s", "vip_monitor_timeout": "20s",
                                            "vip_start_stop_timeout": "90s",
                                            "on_fail": "restart", "migration_threshold": 3,
                                            "failure_timeout": "10min"})))
    cib = cib_of(stack)
    props = {n.get("name"): n.get("value") for n in cib["cluster"].iter("nvpair")}
    assert props["stonith-timeout"] == "45s"
    ip = next(p for p in cib["api"].iter("primitive") if p.get("id") == "p_ip_api")
    ops = {op.get("name"): op for op in ip.iter("op")}
    monitor = ops["monitor"]
    assert (monitor.get("interval"), monitor.get("timeout"), monitor.get("on-fail")) == ("5s", "20s", "restart")
    assert (ops["start"].get("timeout"), ops["stop"].get("timeout")) == ("90s", "90s")
    primitives = [p for change in cib.values() for p in change.iter("primitive")]
    assert {p.get("id") for p in primitives} >= {"p_ip_api", "p_haproxy", "st_lab"}
    for prim in primitives:
        meta = {n.get("name"): n.get("value") for m in prim.findall("meta_attributes") for n in m}
        monitors = [op for op in prim.iter("op") if op.get("name") == "monitor"]
        if prim.get("class") == "stonith":  # a fence device's monitor failing fences nobody
            assert "migration-threshold" not in meta and all(op.get("on-fail") is None for op in monitors)
            continue
        assert meta.get("migration-threshold") == "3" and meta.get("failure-timeout") == "10min", prim.get("id")
        assert monitors and all(op.get("on-fail") == "restart" for op in monitors), prim.get("id")


def test_defaults_leave_the_cib_as_it_was(runtime) -> None:
    """Unset, nothing is added: Pacemaker's own defaults, and no CIB change on upgrade."""
    cib = cib_of(runtime("lab-aa"))
    text = "".join(ET.tostring(c, encoding="unicode") for c in cib.values())
    for absent in ("on-fail", "migration-threshold", "failure-timeout", "stonith-timeout"):
        assert absent not in text
    ip = next(p for p in cib["api"].iter("primitive") if p.get("id") == "p_ip_api")
    assert [(op.get("name"), op.get("interval")) for op in ip.iter("op")] == [("monitor", "30s")]


@pytest.mark.skipif(os.geteuid() != 0 and not Path("/usr/sbin/crm_verify").exists(), reason="needs crm_verify")
def test_crm_verify_accepts_the_policy(runtime, tmp_path: Path) -> None:
    from .test_render import CIB_APPLY

    stack = runtime("lab-aa", lambda d: (
        set_path(d, "pacemaker.fencing.timeout", "45s"),
        set_path(d, "pacemaker.resources", {"vip_monitor_interval": "5s", "on_fail": "fence",
                                            "migration_threshold": 2, "failure_timeout": "5min"})))
    cib = tmp_path / "cib.xml"
    cib.write_text(subprocess.run(["cibadmin", "--empty"], capture_output=True, text=True, check=True).stdout)
    env = {**os.environ, "CIB_file": str(cib), "HA_CIB_WAIT": "5"}
    for name, inputs in record(stack):
        if name.endswith("-cib"):
            done = subprocess.run([sys.executable, str(CIB_APPLY), "apply", name.removesuffix("-cib")],
                                  input=inputs["stdin"], capture_output=True, text=True, timeout=60, env=env)
            assert done.returncode == 0, (name, done.stderr)
    verify = subprocess.run(["crm_verify", "--xml-file", str(cib)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr


# --- a second `up`: only what the setting is for changes ---------------------------------

def changed_commands(before, after) -> set[str]:  # type: ignore[no-untyped-def]
    """Commands whose inputs differ. An input that is another command's output (keystone's keys
    read on the first controller) is unknown under the mocks, a new object each run: equal."""
    from pulumi.output import Unknown

    def known(inputs: dict[str, Any]) -> dict[str, Any]:
        return {k: "<unknown>" if isinstance(v, Unknown) else v for k, v in inputs.items()}

    old, new = dict(before), dict(after)
    assert old.keys() == new.keys(), "a setting must not add or remove resources"
    return {name for name in old if known(old[name]) != known(new[name])}


@pytest.mark.parametrize("edit, expected", [
    # corosync.conf on every node and one `corosync-cfgtool -R`: no restart of corosync or pacemaker.
    (lambda d: d["pacemaker"].update(token_ms=1500, consensus_ms=2600, links=[{"ping_interval_ms": 200,
                                                                               "ping_timeout_ms": 800}]),
     {"cluster-ctl1-corosync-conf", "cluster-ctl2-corosync-conf", "cluster-ctl3-corosync-conf",
      "cluster-corosync-reload"}),
    # stonith-timeout: the cluster's own CIB objects only.
    (lambda d: set_path(d, "pacemaker.fencing.timeout", "30s"), {"cluster-cib"}),
    # The VIP's monitor: the API VIP's CIB change only.
    (lambda d: set_path(d, "pacemaker.resources", {"vip_monitor_interval": "10s"}), {"api-cib"}),
    # Galera's check timing: each node's staged haproxy.cfg, its check and its reload.
    (lambda d: set_path(d, "haproxy.galera_check", {"inter_ms": 400, "fastinter_ms": 200, "fall": 2}),
     {f"haproxy-ctl{i}-{what}" for i in (1, 2, 3) for what in ("config", "config-check", "reload")}),
    # Galera's suspect timeout: each node's galera.cnf and the rolling restart (one node at a time).
    (lambda d: set_path(d, "galera.suspect_timeout_ms", 3000),
     {f"galera-ctl{i}-{what}" for i in (1, 2, 3) for what in ("config", "rolling-restart")}),
])
def test_a_changed_setting_changes_only_its_commands(runtime, edit, expected: set[str]) -> None:
    before = record(runtime("lab-aa"))
    after = record(runtime("lab-aa", edit))
    assert changed_commands(before, after) == expected


def test_the_resource_policy_changes_only_cib_commands(runtime) -> None:
    before = record(runtime("lab-aa"))
    after = record(runtime("lab-aa", lambda d: set_path(d, "pacemaker.resources", {"migration_threshold": 3})))
    changed = changed_commands(before, after)
    assert changed and all(name.endswith("-cib") for name in changed), changed
    assert "cluster-cib" not in changed  # the fence device keeps Pacemaker's defaults
    assert {"api-cib", "haproxy-cib"} <= changed


def test_reload_is_what_applies_corosync_conf() -> None:
    """The reload command is triggered by the conf's content and runs `corosync-cfgtool -R`."""
    from ha_components.render import render_template

    assert "corosync-cfgtool -R" in render_template("scripts/corosync-reload.sh.j2", timeout_seconds=5)
    assert "systemctl" not in render_template("scripts/corosync-reload.sh.j2", timeout_seconds=5)
    assert "restart" not in render_template("scripts/cluster-start.sh.j2")


@pytest.mark.parametrize("answers, ok", [
    (["TRY_AGAIN", "TRY_AGAIN", "ok"], True),  # a membership still forming (kernel tier, cold deploy)
    (["TRY_AGAIN"] * 5, False),  # never settles within the timeout
    (["CS_ERR_NOT_EXIST", "ok"], False),  # any other error is not retried
])
def test_reload_retries_only_while_corosync_says_try_again(tmp_path: Path, answers: list[str], ok: bool) -> None:
    from ha_components.render import render_template

    (tmp_path / "answers").write_text("\n".join(answers) + "\n")
    fake = tmp_path / "corosync-cfgtool"  # answers one line per call: ok or the error's name
    fake.write_text(f"""#!/bin/bash
answer=$(head -n1 {tmp_path}/answers); sed -i 1d {tmp_path}/answers; echo "$*" >> {tmp_path}/calls
[ "$answer" = ok ] && {{ echo "Reloading corosync.conf..."; exit 0; }}
echo "Could not reload configuration. Error CS_ERR_${{answer#CS_ERR_}}"; exit 6
""")
    fake.chmod(0o755)
    script = render_template("scripts/corosync-reload.sh.j2", timeout_seconds=4)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"})
    calls = (tmp_path / "calls").read_text().splitlines()
    assert (done.returncode == 0) == ok, done.stdout + done.stderr
    assert set(calls) == {"-R"} and len(calls) == {True: 3, False: 4 if answers[0] == "TRY_AGAIN" else 1}[ok], calls
