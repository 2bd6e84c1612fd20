"""Rendering: generated files equal reviewed golden files and pass the real tools' checks."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
import xml.etree.ElementTree as ET

import jinja2
import pytest

from ha_components import remote
from ha_components.dryrun import record
from ha_components.models import StackConfig
from ha_components.render import render_template
from ha_components.render.corosync import corosync_conf
from ha_components.render.drbd import drbd_resource
from ha_components.stackfile import load_stack_file

from .helpers import GOLDEN, ROOT, STACKS, corosync_test

CIB_APPLY = ROOT / "ha_components" / "render" / "files" / "ha-cib-apply"


def check_golden(name: str, text: str) -> None:
    """Compare with tests/golden/<name>; UPDATE_GOLDEN=1 rewrites it (review the diff!)."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(), f"{name} differs from its golden file"


@pytest.fixture(scope="module")
def lab_ap() -> StackConfig:
    return load_stack_file(STACKS / "Pulumi.lab-ap.yaml")


def pacemaker_hosts(stack: StackConfig) -> list:
    return [stack.host(n) for n in stack.pacemaker.nodes]


def test_strict_undefined_is_an_error() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render_template("drbd.res.j2", name="x")


def test_corosync_conf_golden(lab_ap: StackConfig) -> None:
    check_golden("corosync-lab-ap.conf", corosync_conf(lab_ap.pacemaker, pacemaker_hosts(lab_ap)))


def test_corosync_two_node_golden(lab_ap: StackConfig) -> None:
    spec = lab_ap.pacemaker.model_copy(update={"nodes": ["ctl1", "ctl2"]})
    text = corosync_conf(spec, pacemaker_hosts(lab_ap)[:2])
    assert "two_node: 1" in text
    check_golden("corosync-two-node.conf", text)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


@needs_root
@pytest.mark.parametrize("node", [0, 1, 2])
def test_corosync_accepts_the_config_on_each_node(lab_ap: StackConfig, node: int, tmp_path: Path) -> None:
    """`corosync -t` in a namespace that holds the node's own addresses, as on the host."""
    hosts = pacemaker_hosts(lab_ap)
    result = corosync_test(lab_ap.pacemaker, hosts, hosts[node].addresses, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_root
@pytest.mark.parametrize("volume", ["mysql", "rabbitmq"])
def test_drbd_resource_golden_and_drbdadm_parses_it(lab_ap: StackConfig, volume: str, tmp_path: Path) -> None:
    spec = lab_ap.volume(volume)
    text = drbd_resource(spec, [lab_ap.host(n) for n in spec.nodes])
    check_golden(f"drbd-{volume}.res", text)
    res = tmp_path / f"{volume}.res"
    res.write_text(text)
    # The kernel tier's module is DRBD 8.4: drbd-utils 9 hands 8.4 resources to drbdadm-84,
    # run here as the first node would (its hostname, in a UTS namespace of its own).
    dump = subprocess.run(["unshare", "--uts", "sh", "-c", f"hostname {spec.nodes[0]} && "
                           f"/usr/lib/drbd/drbdadm-84 -c {res} dump {volume}"],
                          capture_output=True, text=True, timeout=60)
    assert dump.returncode == 0, dump.stderr
    assert f"address          ipv4 {spec.nodes and lab_ap.host(spec.nodes[1]).addresses[spec.link]}:{spec.port};" \
        in dump.stdout
    assert "fencing          resource-only;" in dump.stdout
    # A resync behind application I/O keeps going at 4 MiB/s at least, 1 MiB in flight.
    assert "c-fill-target     1M;" in dump.stdout and "c-min-rate        4M;" in dump.stdout


# A stand-in drbdadm for the first promotion: the resource's state lives in files; `secondary`
# switches it to what the scenario says the link does after the seed data was written
# ($AFTER: "cstate dstate", or "SyncSource N" for a sync still running N queries).
FAKE_DRBDADM = """#!/bin/bash
cd "$DRBD_STATE"
case "$1" in
  cstate|dstate|role) cat "$1" ;;
  primary) echo Primary/Secondary > role; echo UpToDate/Inconsistent > dstate ;;
  secondary) echo Secondary/Secondary > role; set -- $AFTER
     if [ "$1" = SyncSource ]; then echo "$2" > sync_left; echo SyncSource > cstate; echo UpToDate/Inconsistent > dstate
     else echo "$1" > cstate; echo "$2" > dstate; fi ;;
esac
if [ -e sync_left ] && [ "$1" = cstate ]; then
  left=$(( $(cat sync_left) - 1 )); echo "$left" > sync_left
  [ "$left" -le 0 ] && { echo Connected > cstate; echo UpToDate/UpToDate > dstate; rm sync_left; }
fi
exit 0
"""


@pytest.mark.parametrize("after, ok", [
    ("Connected UpToDate/UpToDate", True),
    ("WFConnection UpToDate/DUnknown", False),  # the link broke while the seed data was written
    ("SyncSource 8", True),  # a sync that outlasts the timeout but makes progress is waited for
])
def test_drbd_first_promotion_hands_over_only_once_the_peer_holds_the_data(tmp_path: Path, after: str, ok: bool) -> None:
    """drbd-initialize.sh: force primary, mkfs, seed, demote, then wait until the peer is
    Connected and UpToDate; a peer still cut off after the timeout fails the run, since
    Pacemaker could otherwise promote the peer's stale copy."""
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    stubs = {"drbdadm": FAKE_DRBDADM, "cibadmin": "#!/bin/sh\nexit 1\n", "blkid": "#!/bin/sh\n",
             "mkfs": "#!/bin/sh\n", "mount": "#!/bin/sh\n", "umount": "#!/bin/sh\n",
             "rmdir": "#!/bin/sh\nrm -rf \"$@\"\n", "sleep": "#!/bin/sh\n"}
    for name, text in stubs.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    for name, value in {"cstate": "Connected", "dstate": "Inconsistent/Inconsistent",
                        "role": "Secondary/Secondary"}.items():
        (state / name).write_text(value + "\n")
    script = render_template("scripts/drbd-initialize.sh.j2", name="mysql", device="/dev/drbd0", fstype="xfs",
                             drbd_primitive="p_drbd_mysql", initial_data="touch \"$MOUNT/seeded\"",
                             timeout_seconds=5)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "DRBD_STATE": str(state), "AFTER": after}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, capture_output=True,
                            text=True, timeout=60)
    assert (state / "role").read_text() == "Secondary/Secondary\n"  # demoted either way
    if ok:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 1
        assert "mysql: the peer does not hold the initial data (WFConnection UpToDate/DUnknown after 5s)" \
            in result.stderr


def cib_changes(stack: StackConfig) -> list[tuple[str, str]]:
    """(owner, change XML) of every CIB command, in the order the stack applies them."""
    return [(name.removesuffix("-cib"), inputs["stdin"]) for name, inputs in record(stack)
            if name.endswith("-cib")]


def test_token_timeout_reaches_corosync_conf(lab_ap: StackConfig) -> None:
    """The lab-ap stack raises corosync's token (emulated guests stall); corosync -t accepts it."""
    from ha_components.render.corosync import corosync_conf

    hosts = [lab_ap.host(n) for n in lab_ap.pacemaker.nodes]
    assert lab_ap.pacemaker.token_ms == 10000
    assert "\n    token: 10000\n" in corosync_conf(lab_ap.pacemaker, hosts)
    default = lab_ap.pacemaker.model_copy(update={"token_ms": None})
    assert "token:" not in corosync_conf(default, hosts)


def test_a_node_list_dropping_or_renumbering_a_member_is_refused_on_the_node(lab_ap: StackConfig, tmp_path: Path) -> None:
    """Issue 17: the check before corosync.conf is pushed, run against a node's current file:
    growing passes; dropping a member or reordering the list (new node ids) fails, naming them."""
    from ha_components.render.corosync import node_ids

    hosts = [lab_ap.host(n) for n in lab_ap.pacemaker.nodes]
    conf = tmp_path / "corosync.conf"

    def check(wanted: list, departed: list[str] = []) -> subprocess.CompletedProcess:
        script = render_template("scripts/corosync-members-check.sh.j2", conf=str(conf), wanted=node_ids(wanted),
                                 departed=departed)
        return subprocess.run(["bash", "-c", remote.STRICT + script], capture_output=True, text=True)

    assert check(hosts).returncode == 0, "a new node (no corosync.conf yet) passes"
    conf.write_text(corosync_conf(lab_ap.pacemaker, hosts))
    assert check(hosts).returncode == 0
    dropped = check(hosts[:1])
    assert dropped.returncode == 1 and f"{hosts[1].name} (node id 2) is a member and not in pacemaker.nodes" in dropped.stderr
    assert check(hosts[:1], departed=[h.name for h in hosts[1:]]).returncode == 0, "nodes in `leaving` may be dropped"
    swapped = check(hosts[::-1])
    assert swapped.returncode == 1 and f"{hosts[0].name} would change its node id 1 -> {len(hosts)}" in swapped.stderr
    grown = hosts + [hosts[0].model_copy(update={"name": "ctl9"})]
    assert check(grown).returncode == 0


def test_http_ready_waits_for_an_http_answer_on_the_bound_address(tmp_path: Path) -> None:
    """Issue 17: a node's API units count as restarted only once their ports answer HTTP (any
    status below 500) on the node's address; a port nobody serves fails, naming it."""
    import http.server
    import socket
    import threading

    class Versions(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # keystone's / answers 300 Multiple Choices
            self.send_response(300)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Versions)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        free = unused.getsockname()[1]
    try:
        def ready(port: int) -> subprocess.CompletedProcess:
            script = render_template("scripts/http-ready.sh.j2", address="127.0.0.1", ports=[port],
                                     timeout_seconds=2)
            return subprocess.run(["bash", "-c", remote.STRICT + script], capture_output=True, text=True, timeout=60)

        served = ready(server.server_port)
        assert served.returncode == 0, served.stderr
        assert f"127.0.0.1:{server.server_port} answers HTTP" in served.stdout
        missing = ready(free)
        assert missing.returncode == 1 and f"127.0.0.1:{free} does not answer HTTP after 2 tries" in missing.stderr
    finally:
        server.shutdown()


def test_cib_changes_golden(lab_ap: StackConfig) -> None:
    changes = cib_changes(lab_ap)
    assert [owner for owner, _ in changes] == [
        "cluster", "drbd-mysql", "mysql", "drbd-rabbitmq", "rabbitmq", "api"]
    for owner, xml in changes:
        check_golden(f"cib-lab-ap/{owner}.xml", xml)


def cib_apply(cib: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CIB_APPLY), *args], input=stdin, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "CIB_file": str(cib), "HA_CIB_WAIT": "5"})


@pytest.fixture
def empty_cib(tmp_path: Path) -> Path:
    cib = tmp_path / "cib.xml"
    cib.write_text(subprocess.run(["cibadmin", "--empty"], capture_output=True, text=True, check=True).stdout)
    return cib


def test_staged_cib_changes_pass_crm_verify_and_are_idempotent(lab_ap: StackConfig, empty_cib: Path) -> None:
    for owner, xml in cib_changes(lab_ap):
        first = cib_apply(empty_cib, "apply", owner, stdin=xml)
        assert first.returncode == 0, first.stderr
        assert "pushed one diff" in first.stdout
    verify = subprocess.run(["crm_verify", "--xml-file", str(empty_cib)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    before = empty_cib.read_text()
    for owner, xml in cib_changes(lab_ap):
        again = cib_apply(empty_cib, "apply", owner, stdin=xml)
        assert again.stdout.strip() == f"apply {owner}: no change", again.stderr
    assert empty_cib.read_text() == before  # not even the epoch moved


def test_changing_one_resource_changes_only_it(lab_ap: StackConfig, empty_cib: Path) -> None:
    changes = dict(cib_changes(lab_ap))
    for owner, xml in changes.items():
        assert cib_apply(empty_cib, "apply", owner, stdin=xml).returncode == 0
    edited = changes["api"].replace('value="10.77.11.103"', 'value="10.77.11.104"')
    result = cib_apply(empty_cib, "apply", "api", stdin=edited)
    assert result.returncode == 0, result.stderr
    text = empty_cib.read_text()
    assert 'value="10.77.11.104"' in text and 'value="10.77.11.103"' not in text
    assert 'value="10.77.11.101"' in text  # the MySQL VIP is untouched


def test_removed_objects_leave_the_cib_and_others_are_protected(lab_ap: StackConfig, empty_cib: Path) -> None:
    changes = dict(cib_changes(lab_ap))
    for owner, xml in changes.items():
        assert cib_apply(empty_cib, "apply", owner, stdin=xml).returncode == 0
    # Another owner may not take over an object it did not create.
    stolen = cib_apply(empty_cib, "apply", "intruder", stdin=changes["mysql"].replace(
        'owner="mysql"', 'owner="intruder"'))
    assert stolen.returncode == 1 and "belongs to ha-openstack-mysql" in stolen.stderr
    removed = cib_apply(empty_cib, "remove", "api")
    assert removed.returncode == 0, removed.stderr
    text = empty_cib.read_text()
    assert "g_services_api" not in text and "ha-openstack-api" not in text
    assert "g_mysql" in text


def test_removing_every_owner_in_reverse_order_empties_the_cib(lab_ap: StackConfig, empty_cib: Path) -> None:
    """What `pulumi destroy` does: the last removal (stonith and cluster options) leaves a
    cluster crm_verify complains about (no STONITH device), which must not block it."""
    changes = cib_changes(lab_ap)
    for owner, xml in changes:
        assert cib_apply(empty_cib, "apply", owner, stdin=xml).returncode == 0
    for owner, _ in reversed(changes):
        removed = cib_apply(empty_cib, "remove", owner)
        assert removed.returncode == 0, (owner, removed.stderr)
    config = ET.fromstring(empty_cib.read_text()).find("configuration")
    assert config is not None
    assert list(config.find("resources") or []) == [] and list(config.find("constraints") or []) == []
    assert "ha-openstack-" not in empty_cib.read_text()


def test_crm_verify_failure_pushes_nothing(lab_ap: StackConfig, empty_cib: Path) -> None:
    before = empty_cib.read_text()
    broken = dict(cib_changes(lab_ap))["mysql"]  # needs ms_drbd_mysql, which is not there yet
    result = cib_apply(empty_cib, "apply", "mysql", stdin=broken)
    assert result.returncode == 1
    assert "crm_verify rejected the staged CIB, nothing was pushed" in result.stderr
    assert empty_cib.read_text() == before


def test_pushed_cib_helper_is_the_tested_one_and_runs_as_pushed(lab_ap: StackConfig, tmp_path: Path,
                                                                 empty_cib: Path) -> None:
    """What PacemakerCluster pushes to every node is the helper the tests above run, with the
    mode the CIB commands need, and runs as the nodes run it: executed by its #! line."""
    pushed = {remote_info.host: inputs for name, inputs in record(lab_ap)
              if (remote_info := remote.RECORDED[name]).path == "/usr/local/sbin/ha-cib-apply"}
    assert sorted(pushed) == sorted(lab_ap.pacemaker.nodes)
    for inputs in pushed.values():
        assert inputs["stdin"] == CIB_APPLY.read_text()
        assert "chmod 0755" in inputs["create"] and "chown root:root" in inputs["create"]
    helper = tmp_path / "ha-cib-apply"
    helper.write_text(next(iter(pushed.values()))["stdin"])
    helper.chmod(0o755)
    owner, xml = cib_changes(lab_ap)[0]
    result = subprocess.run([str(helper), "apply", owner], input=xml, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "CIB_file": str(empty_cib), "HA_CIB_WAIT": "5"})
    assert result.returncode == 0 and "pushed one diff" in result.stdout, result.stderr


def test_render_command_writes_files_and_commands_without_secrets(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "ha_components", "render", "stacks/Pulumi.lab-ap.yaml",
                             "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (out / "ctl1/etc/corosync/corosync.conf").read_text() == (GOLDEN / "corosync-lab-ap.conf").read_text()
    assert (out / "ctl2/etc/drbd.d/mysql.res").exists() and not (out / "ctl3/etc/drbd.d/mysql.res").exists()
    assert (out / "ctl1/etc/corosync/authkey").read_text() == "<secret:pacemaker.authkey>"
    commands = (out / "ctl1/COMMANDS.sh").read_text()
    assert commands.index("cluster-ctl1-start") < commands.index("cluster-ready") \
        < commands.index("drbd-mysql-initialize")
    shutil.rmtree(out)
