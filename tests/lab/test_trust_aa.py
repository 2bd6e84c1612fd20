"""Issue 15 on the lab: lab-aa deployed by a non-root operator with TLS at the VIP, then a
secrets audit.

One deployment for the module: stacks/Pulumi.lab-aa.yaml with every host reached as the lab
image's `deploy` user (`become: sudo`, non-interactive sudo) and haproxy.tls on a public VIP
(10.77.1.111) with a CA and certificate the test makes (tests/tls_fixture.py, the key set as a
secret through `pulumi config set --secret` on stdin); a cold `pulumi up` after `tools/lab
reset` while a sampler on every machine records each command line it sees in /proc, then a
second `up` that must change nothing. TLS: `haproxy -c` of the live config, a handshake with
and without the CA, keystoneauth and openstacksdk (on ctl1: the lab image has them) getting a
token and uploading an image over https with the CA verified. The audit then looks for every secret value of the stack
(and the forms it is written in: percent-encoded, `$$`-escaped, the decoded corosync authkey)
in `pulumi stack export` (no --show-secrets) and the state files, the engine's output and event
log of both `up`s, the sampled command lines, every file on the machines that a non-root user
can read, and the journal. One test, failing with every place a value leaked.
"""
from __future__ import annotations

import base64
import json
import shlex
import subprocess
import ssl
import threading
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import pytest
import yaml

from ha_components.models import secret_fields, validate_stack
from ha_components.render.galera import SST_CONFIG_PATH
from ha_components.render.haproxy import TLS_PEM_PATH

from ..tls_fixture import LabCa, make_lab_ca
from .conftest import LAB, NODES, REPO, EngineStack, lab_aa_core_text, on
from .deploy import OPENRC, Deployment, admin_token, assert_cluster_running, deployed

pytestmark = [pytest.mark.lab]

STACK = "lab-aa"
VIP = "10.77.1.110"
PUBLIC = "10.77.1.111"

# Runs on a lab machine as root: prints every new command line of /proc/*/cmdline, until its
# stdin (the ssh channel) closes.
SAMPLER = r"""
import os, select, sys
seen = set()
while not select.select([sys.stdin], [], [], 0.01)[0]:
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                line = f.read().rstrip(b"\0").replace(b"\0", b" ")
        except OSError:
            continue
        if line and line not in seen:
            seen.add(line)
            sys.stdout.buffer.write(line.replace(b"\n", b"\\n") + b"\n")
            sys.stdout.flush()
"""

# Runs on a lab machine as root, the needles (hex) on stdin: which files a non-root user can
# read (o+r, every directory above o+x) and the journal (every field, -o export) hold one.
AUDIT = r"""
import json, os, stat, subprocess, sys
needles = {k: bytes.fromhex(v) for k, v in json.load(sys.stdin).items()}
found = []
def scan(where, data):
    found.extend([where, k] for k, v in needles.items() if v in data)
for top in ("/etc", "/var/lib", "/root", "/home", "/tmp", "/run"):
    if not os.stat(top).st_mode & stat.S_IXOTH:
        continue
    for d, dirs, files in os.walk(top):
        dirs[:] = [x for x in dirs if (lambda m: stat.S_ISDIR(m) and m & stat.S_IXOTH)(
            os.lstat(os.path.join(d, x)).st_mode)]
        for name in files:
            path = os.path.join(d, name)
            try:
                st = os.lstat(path)
                if stat.S_ISREG(st.st_mode) and st.st_mode & stat.S_IROTH and st.st_size < 64 << 20:
                    with open(path, "rb") as f:
                        scan(path, f.read())
            except OSError:
                continue
scan("journal", subprocess.run(["journalctl", "--no-pager", "-o", "export"], capture_output=True).stdout)
print(json.dumps(found))
"""


def trust_stack(work: Path, ca: LabCa) -> Path:
    """stacks/Pulumi.lab-aa.yaml (keystone and glance: conftest.lab_aa_core_text) with every host
    reached as `deploy` + sudo, and haproxy.tls on a
    public VIP with the test CA's certificate; the key encrypted into the file by the engine."""
    doc = yaml.safe_load(lab_aa_core_text())
    config = doc["config"]
    for host in config["ha-openstack:hosts"]:
        host["ssh"].update(user="deploy", become="sudo")
    config["ha-openstack:vips"].append({"name": "public", "address": PUBLIC})
    config["ha-openstack:haproxy"]["tls"] = {"public_vip": "public", "certificate": ca.certificate,
                                             "ca_certificate": ca.ca_certificate}
    plain = work / "plain" / f"Pulumi.{STACK}.yaml"
    plain.parent.mkdir()
    plain.write_text(yaml.safe_dump(doc, sort_keys=False))
    encrypted = EngineStack(REPO, STACK, work / "encrypt").set_secret("haproxy.tls.key", ca.key, plain)
    out = work / f"Pulumi.{STACK}.yaml"
    out.write_text(encrypted.read_text())
    assert ca.key.splitlines()[1] not in out.read_text()
    return out


class Sampler:
    """The command lines seen on every lab machine while it runs."""

    def __init__(self) -> None:
        self.procs = {n: subprocess.Popen([str(LAB), "ssh", n, "python3 -c " + shlex.quote(SAMPLER)],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE) for n in NODES}
        self.lines: dict[str, list[bytes]] = {n: [] for n in NODES}
        self.threads = [threading.Thread(target=self._read, args=(n,), daemon=True) for n in NODES]
        for t in self.threads:
            t.start()

    def _read(self, node: str) -> None:
        for line in self.procs[node].stdout:  # type: ignore[union-attr]
            self.lines[node].append(line)

    def stop(self) -> None:
        for p in self.procs.values():
            p.stdin.close()  # type: ignore[union-attr]
        for p in self.procs.values():
            p.wait(timeout=30)
        for t in self.threads:
            t.join(timeout=30)


SAMPLES: dict[str, list[bytes]] = {}


# A value the audit must find where the test plants it (a command line, a world-readable file,
# the journal) and must not find in a file only root can read: proof that each probe works.
CANARY = "ha-audit-canary-" + uuid.uuid4().hex


@contextmanager
def sampling() -> Iterator[None]:
    sampler = Sampler()
    try:
        for n in NODES:
            on(n, f"sh -c 'sleep 0.5; : {CANARY}'")
        yield
    finally:
        sampler.stop()
        SAMPLES.update(sampler.lines)


@pytest.fixture(scope="module")
def lab_ca(tmp_path_factory: pytest.TempPathFactory) -> LabCa:
    return make_lab_ca(tmp_path_factory.mktemp("lab-ca"), PUBLIC)


@pytest.fixture(scope="module")
def deploy_aa(tmp_path_factory: pytest.TempPathFactory, lab_ca: LabCa) -> Iterator[Deployment]:
    work = tmp_path_factory.mktemp("trust")
    yield from deployed(STACK, work, stack_file=trust_stack(work, lab_ca), around_up=sampling)


def test_deploy_user_converges_and_a_second_up_changes_nothing(deploy_aa: Deployment) -> None:
    assert set(deploy_aa.first.summary) == {"create"}, deploy_aa.first.summary
    assert set(deploy_aa.second.summary) == {"same"}, deploy_aa.second.summary
    assert deploy_aa.logins_during_second == {n: 0 for n in NODES}
    assert_cluster_running()
    token, catalog = admin_token(VIP)  # the admin password reached keystone through sudo's stdin
    assert token and {e["type"] for e in catalog} >= {"identity", "image"}


def test_every_command_came_as_deploy_through_sudo(deploy_aa: Deployment) -> None:
    for n in NODES:
        journal = on(n, "journalctl -o cat --no-pager", timeout=120).stdout
        logins = journal.count("Accepted publickey for deploy")
        # Debian's sudo logs its sessions through PAM; journald keeps sudo's own command line.
        sessions = journal.count("pam_unix(sudo:session): session opened for user root(uid=0) by (uid=1000)")
        wrapped = on(n, "journalctl _COMM=sudo -o verbose --no-pager | grep -c "
                        "'_CMDLINE=sudo -n -H -- bash -c \"set -euo pipefail' || true", timeout=120).stdout
        assert logins > 0 and sessions > 0 and int(wrapped) > 0, (n, logins, sessions, wrapped)
        assert "password is required" not in journal and "incorrect password" not in journal, n
        # Files written through sudo belong to root, with the modes the SDK asked for.
        stat = on(n, "stat -c '%n %U:%G %a' /etc/haproxy/haproxy.cfg " + SST_CONFIG_PATH).stdout.split("\n")
        assert stat[:2] == ["/etc/haproxy/haproxy.cfg root:haproxy 640",
                            f"{SST_CONFIG_PATH} root:mysql 640"], (n, stat)


def stack_secrets(deployment: Deployment) -> dict[str, bytes]:
    """Every secret value of the stack, decrypted by the engine, and the forms it is written in."""
    config = deployment.stack.config(deployment.stack_file)
    data: dict[str, Any] = {}
    for key, value in config.items():
        namespace, _, name = key.partition(":")
        if namespace == "ha-openstack":
            try:
                data[name] = json.loads(value)
            except json.JSONDecodeError:
                data[name] = value
    needles: dict[str, bytes] = {}
    for loc, secret in secret_fields(validate_stack(data)):
        label = ".".join(str(p) for p in loc)
        value = secret.get_secret_value()
        needles[label] = value.encode()
        for form, text in (("percent-encoded", quote(value, safe="")), ("$$-escaped", value.replace("$", "$$"))):
            if text != value:
                needles[f"{label} ({form})"] = text.encode()
        lines = value.splitlines()
        if len(lines) > 1:  # a PEM key: its longest line alone, should it be re-wrapped or re-encoded
            needles[f"{label} (a line)"] = max(lines, key=len).encode()
        if label == "pacemaker.authkey":
            needles[f"{label} (decoded)"] = base64.b64decode(value)
    assert "haproxy.tls.key" in needles and len(needles) >= 10, needles.keys()
    return needles


def test_no_secret_value_leaks_anywhere(deploy_aa: Deployment) -> None:
    needles = stack_secrets(deploy_aa)
    leaks: list[str] = []

    def scan(where: str, data: bytes) -> None:
        leaks.extend(f"{where}: {label}" for label, value in needles.items() if value in data)

    scan("pulumi stack export", deploy_aa.stack.export_text().encode())
    for path in deploy_aa.stack.state_files():
        scan(f"state file {path.relative_to(deploy_aa.stack.state_dir)}", path.read_bytes())
    for which, up in (("cold up", deploy_aa.first), ("second up", deploy_aa.second)):
        scan(f"{which}: engine stdout", up.stdout.encode())
        scan(f"{which}: engine stderr", up.stderr.encode())
        scan(f"{which}: event log", up.events_json.encode())
    assert all(SAMPLES.get(n) for n in NODES), "the command-line sampler saw nothing"
    for node, lines in SAMPLES.items():
        for line in lines:
            scan(f"{node}: command line {line[:80]!r}", line)
    hex_needles = json.dumps({**{k: v.hex() for k, v in needles.items()}, "canary": CANARY.encode().hex()})
    for node in NODES:
        on(node, f"logger -t ha-audit {CANARY}; echo {CANARY} > /tmp/ha-audit-public; "
                 f"(umask 077; echo {CANARY} > /tmp/ha-audit-private)")
        found = json.loads(on(node, "python3 -c " + shlex.quote(AUDIT), input=hex_needles, timeout=300).stdout)
        canary = {where for where, label in found if label == "canary"}
        assert canary == {"/tmp/ha-audit-public", "journal"}, (node, canary)
        assert any(CANARY.encode() in line for line in SAMPLES[node]), f"{node}: the sampler missed the canary"
        leaks.extend(f"{node}: {where}: {label}" for where, label in found if label != "canary")
    print(f"\naudit: {len(needles)} values, {sum(len(v) for v in SAMPLES.values())} command lines sampled "
          f"({', '.join(f'{n} {len(v)}' for n, v in SAMPLES.items())})")
    assert not leaks, "secret values leaked:\n" + "\n".join(sorted(set(leaks)))


def test_haproxy_serves_the_stack_certificate_and_haproxy_c_accepts_the_live_config(deploy_aa: Deployment) -> None:
    for n in NODES:
        assert on(n, f"stat -c '%U:%G %a' {TLS_PEM_PATH}").stdout.strip() == "root:root 600", n
        on(n, "haproxy -c -q -f /etc/haproxy/haproxy.cfg")
    assert deploy_aa.output("keystone_url") == f"https://{PUBLIC}:5000/v3"


def test_tls_handshake_verifies_with_the_stack_ca_and_fails_without(deploy_aa: Deployment) -> None:
    ca = deploy_aa.output("ca_certificate")
    assert ca and "BEGIN CERTIFICATE" in ca
    with urllib.request.urlopen(f"https://{PUBLIC}:5000/v3", timeout=30,
                                context=ssl.create_default_context(cadata=ca)) as response:
        version = json.load(response)["version"]
    # HAProxy's X-Forwarded-Proto reached keystone: its own links say https too.
    assert [link["href"] for link in version["links"] if link["rel"] == "self"] == [f"https://{PUBLIC}:5000/v3/"]
    with pytest.raises(urllib.error.URLError) as err:
        urllib.request.urlopen(f"https://{PUBLIC}:5000/v3", timeout=30, context=ssl.create_default_context())
    assert isinstance(err.value.reason, ssl.SSLCertVerificationError), err.value
    # The internal endpoint stays plain HTTP on the API VIP (management network).
    with urllib.request.urlopen(f"http://{VIP}:5000/v3", timeout=30) as response:
        assert response.status == 200


# On ctl1 (python3-openstackclient brings keystoneauth1 and openstacksdk), the admin's password
# from the stack's openrc in the environment; argv[1] is the CA file or "system".
CLIENT = r"""
import os, sys, tempfile, uuid
import openstack
from keystoneauth1 import session
from keystoneauth1.identity import v3
verify = True if sys.argv[1] == "system" else sys.argv[1]
auth = v3.Password(auth_url=sys.argv[2], username="admin", password=os.environ["OS_PASSWORD"],
                   project_name="admin", user_domain_name="Default", project_domain_name="Default")
sess = session.Session(auth=auth, verify=verify)
print("token", bool(sess.get_token()))
conn = openstack.connection.Connection(session=sess, interface="public", region_name=os.environ["OS_REGION_NAME"])
data = uuid.uuid4().bytes * 4096
with tempfile.TemporaryFile() as f:
    f.write(data)
    f.seek(0)
    image = conn.image.create_image(name="tls-" + uuid.uuid4().hex[:8], data=f, disk_format="raw",
                                    container_format="bare")
try:
    got = b"".join(conn.image.download_image(image, stream=True).iter_content(65536))
    print("image", conn.image.get_image(image.id).status, got == data,
          conn.session.get_endpoint(service_type="image", interface="public"))
finally:
    conn.image.delete_image(image)
"""


def test_keystoneauth_and_openstacksdk_verify_the_ca_and_upload_an_image_over_tls(
        deploy_aa: Deployment, lab_ca: LabCa) -> None:
    on("ctl1", "cat > /tmp/ha-openstack-lab-ca.pem", input=deploy_aa.output("ca_certificate"))
    run = f". {OPENRC} && python3 -c {shlex.quote(CLIENT)} {{}} https://{PUBLIC}:5000/v3"
    out = on("ctl1", run.format("/tmp/ha-openstack-lab-ca.pem"), timeout=300).stdout.split("\n")
    assert out[0] == "token True", out
    assert out[1].startswith(f"image active True https://{PUBLIC}:9292"), out
    refused = on("ctl1", run.format("system"), check=False, timeout=120)
    assert refused.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr, refused.stderr[-2000:]
