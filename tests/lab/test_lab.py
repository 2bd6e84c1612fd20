"""Issue 8, tier 1: the local lab of three systemd machines (tools/lab)."""
import re
import socket
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from .conftest import ALL_NODES, NODES, REPO, addr, lab, on

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lab_up")]

VIP = "10.77.1.150"
VIP_PCMK = "10.77.1.100"


def ping(src, dst, count=1, wait=2):
    return on(src, f"ping -n -q -c {count} -W {wait} {dst}", check=False, timeout=30).returncode == 0


def host_reaches(ip, port=22):
    """The lab host reaches ip: a TCP connection to sshd (listening on all addresses)."""
    try:
        socket.create_connection((ip, port), timeout=3).close()
        return True
    except OSError:
        return False


def mac(node, dev="eth0"):
    return on(node, f"cat /sys/class/net/{dev}/address").stdout.strip()


def neigh_mac(node, ip):
    out = on(node, f"ip neigh show {ip} dev eth0").stdout
    m = re.search(r"lladdr (\S+)", out)
    return m.group(1) if m else None


def strict_ssh(node, link=0):
    """`hostname` on NODE by plain ssh with host key checking against root's known_hosts."""
    return subprocess.run(["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                           "-i", "/var/lib/ha-openstack-lab/ssh/id_ed25519", f"root@{addr(node, link)}",
                           "hostname"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


def served_key(node):
    """The ed25519 host key NODE's sshd serves, as `ssh-ed25519 AAAA...`."""
    out = subprocess.run(["ssh-keyscan", "-T", "5", "-t", "ed25519", addr(node)], capture_output=True,
                         text=True, timeout=30).stdout
    return next((" ".join(line.split()[1:3]) for line in out.splitlines() if not line.startswith("#")), None)


def fixture_key(node):
    pub = REPO / "tools" / "lab.d" / "host-keys" / f"{node}-ssh_host_ed25519_key.pub"
    return " ".join(pub.read_text().split()[:2])


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout}s waiting for {what}", pytrace=False)


def test_each_machine_answers_ssh_with_systemd_running():
    ids = set()
    for n in NODES:
        assert on(n, "hostname").stdout.strip() == n
        state = on(n, "systemctl is-system-running", check=False).stdout.strip()
        failed = on(n, "systemctl --failed --no-legend --plain", check=False).stdout.strip()
        assert state == "running", f"{n}: systemd {state}; failed units: {failed}"
        assert on(n, "ps -o comm= -p 1").stdout.strip() == "systemd"
        assert on(n, "sysctl -n net.ipv4.ip_nonlocal_bind").stdout.strip() == "1"
        ids.add(on(n, "cat /etc/machine-id; cat /etc/ssh/ssh_host_ed25519_key.pub").stdout)
    assert len(ids) == 3, "machines share a machine-id or SSH host key"


def test_ssh_with_host_key_checking_trusts_the_machines_after_a_reset():
    """Every reset gives the machines new host keys; tools/lab puts them into root's
    known_hosts, so plain ssh (galera-recover, an operator) does not refuse a "changed" host."""
    for n in NODES:
        for link in (0, 1):
            r = strict_ssh(n, link)
            assert (r.returncode, r.stdout.strip()) == (0, n), f"{n} link {link}: {r.stderr.strip()}"


def test_stack_services_are_installed_but_disabled_and_sshd_enabled():
    r = lab("status")
    image = re.search(r"image (\S+)", r.stdout).group(1)
    for unit in ["pacemaker", "corosync", "pcsd", "mariadb", "rabbitmq-server", "haproxy",
                 "memcached", "apache2", "keystone"]:
        out = subprocess.run(["systemctl", f"--root={image}", "is-enabled", f"{unit}.service"],
                             capture_output=True, text=True).stdout.strip()
        assert out == "disabled", f"{unit} in the image is {out or 'missing'}"
    out = subprocess.run(["systemctl", f"--root={image}", "is-enabled", "ssh.service"],
                         capture_output=True, text=True).stdout.strip()
    assert out == "enabled"
    tools = ("pcs crm corosync pacemakerd mariadbd galera_recovery mariabackup rabbitmqctl "
             "haproxy memcached keystone-manage openstack drbdadm mkfs.xfs fence_virsh fence_halab")
    on("ctl1", f"for t in {tools}; do command -v $t >/dev/null || {{ echo missing $t; exit 1; }}; done")


def test_machines_have_their_own_cgroups_so_services_restart_independently():
    """Started from one cgroup, the three machines shared one cgroup tree (ctl1's
    system.slice/ssh.service held every machine's sshd). Each must have its own."""
    for n in NODES:
        sshd = on(n, "systemctl show -p MainPID --value ssh").stdout.strip()
        host_pids = [p for p in subprocess.run(["ip", "netns", "pids", f"halab-{n}"],
                                               capture_output=True, text=True).stdout.split()
                     if re.search(r"^NSpid:.*\s(\d+)$", open(f"/proc/{p}/status").read(),
                                  re.M).group(1) == sshd]
        assert host_pids, f"sshd of {n} not found on the host"
        cgroups = open(f"/proc/{host_pids[0]}/cgroup").read()
        assert re.search(rf"name=systemd:/halab/{n}/payload/system.slice/ssh.service$", cgroups, re.M), \
            f"{n}'s sshd is not in {n}'s own cgroup tree:\n{cgroups}"
    try:
        for n in ("ctl1", "ctl2"):
            on(n, "systemctl start memcached")
        pid_ctl2 = on("ctl2", "systemctl show -p MainPID --value memcached").stdout.strip()
        on("ctl1", "systemctl stop memcached && systemctl start memcached && systemctl restart memcached")
        assert on("ctl1", "systemctl is-active memcached").stdout.strip() == "active"
        assert on("ctl2", "systemctl show -p MainPID --value memcached").stdout.strip() == pid_ctl2
    finally:
        for n in ("ctl1", "ctl2"):
            on(n, "systemctl stop memcached", check=False)


def test_machines_reach_each_other_on_both_lab_networks():
    for src in NODES:
        for dst in NODES:
            for link in (0, 1):
                assert ping(src, addr(dst, link)), f"{src} cannot reach {dst} on link {link}"
    for n in NODES:
        for link in (0, 1):
            assert host_reaches(addr(n, link)), f"host cannot reach {n} on link {link}"


def test_an_address_added_on_a_machine_moves_with_gratuitous_arp():
    move_cmd = f"ip addr add {VIP}/24 dev eth0 && arping -q -U -c 2 -I eth0 {VIP}"
    try:
        on("ctl1", move_cmd)
        assert ping("ctl2", VIP), "VIP on ctl1 not reachable from ctl2"
        assert ping("ctl3", VIP), "VIP on ctl1 not reachable from ctl3"
        assert neigh_mac("ctl3", VIP) == mac("ctl1")
        # Move it: ctl3 still has ctl1's MAC cached; the gratuitous ARP must update it.
        on("ctl1", f"ip addr del {VIP}/24 dev eth0")
        on("ctl2", move_cmd)
        assert neigh_mac("ctl3", VIP) == mac("ctl2"), "gratuitous ARP did not move the VIP"
        assert ping("ctl3", VIP), "VIP on ctl2 not reachable from ctl3"
        assert host_reaches(VIP), "host cannot reach the VIP"
    finally:
        for n in ("ctl1", "ctl2"):
            on(n, f"ip addr del {VIP}/24 dev eth0 2>/dev/null; true", check=False)


def fence(node, stdin=None, args=""):
    return on(node, f"fence_halab {args}", check=False, input=stdin, timeout=120)


def test_fence_agent_metadata_is_fence_agent_xml_pacemaker_accepts():
    r = fence("ctl1", args="-o metadata")
    assert r.returncode == 0
    root = ET.fromstring(r.stdout)
    assert root.tag == "resource-agent" and root.get("name") == "fence_halab"
    params = {p.get("name") for p in root.iter("parameter")}
    assert {"action", "plug", "port", "nodename", "ipaddr", "ipport"} <= params
    actions = {a.get("name") for a in root.iter("action")}
    assert {"on", "off", "reboot", "status", "monitor", "list", "metadata"} <= actions
    # Pacemaker's and pcs's own view of the agent, against an offline CIB.
    on("ctl1", "crm_resource --show-metadata stonith:fence_halab | grep -q 'resource-agent name=\"fence_halab\"'")
    on("ctl1", "rm -f /tmp/cib.xml && cibadmin --empty > /tmp/cib.xml && "
               "pcs -f /tmp/cib.xml stonith create fence-ctl3 fence_halab pcmk_host_list=ctl3 && "
               "grep -q 'type=\"fence_halab\"' /tmp/cib.xml")


def test_fence_agent_lists_the_machines():
    r = fence("ctl1", stdin="action=list\n")
    assert r.returncode == 0, r.stderr
    assert [line.split(",")[0] for line in r.stdout.split()] == ALL_NODES  # ctl4/ctl5 too, on or off


def test_fence_agent_refuses_without_the_lab_token():
    on("ctl1", "echo wrong > /tmp/bad-token")
    r = fence("ctl1", stdin="action=off\nplug=ctl3\ntoken_file=/tmp/bad-token\n")
    assert r.returncode == 1
    assert "bad token" in r.stderr
    assert lab("status", "ctl3", check=False).returncode == 0, "ctl3 was powered off anyway"


def test_fence_agent_powers_a_machine_off_and_on_and_reports_truthfully():
    on("ctl3", "echo kept > /root/fence-marker && sync")
    r = fence("ctl1", stdin="action=off\nplug=ctl3\n")
    assert r.returncode == 0, r.stderr
    assert lab("status", "ctl3", check=False).returncode == 2
    assert not ping("ctl1", addr("ctl3"))
    r = fence("ctl1", args="-o status -n ctl3")
    assert (r.returncode, r.stdout.strip()) == (2, "Status: OFF")
    r = fence("ctl1", stdin="action=on\nnodename=ctl3\n")  # Pacemaker's key for the target
    assert r.returncode == 0, r.stderr
    r = fence("ctl1", args="--action=status --plug=ctl3")
    assert (r.returncode, r.stdout.strip()) == (0, "Status: ON")
    lab("start", "ctl3")  # already on: waits until it answers SSH
    assert on("ctl3", "cat /root/fence-marker").stdout.strip() == "kept"
    r = fence("ctl1", stdin="action=reboot\nport=ctl3\n")
    assert r.returncode == 0, r.stderr
    lab("start", "ctl3")
    assert on("ctl3", "systemctl is-system-running").stdout.strip() == "running"


def test_kill_powers_off_abruptly_and_start_keeps_the_disk():
    on("ctl2", "echo kept > /root/kill-marker && sync && ip addr add 10.77.1.151/24 dev eth0")
    lab("kill", "ctl2")
    assert lab("status", "ctl2", check=False).returncode == 2
    out = subprocess.run(["ip", "netns", "pids", "halab-ctl2"], capture_output=True, text=True)
    assert not out.stdout.strip(), "processes of ctl2 survived the kill"
    assert not ping("ctl1", addr("ctl2"))
    assert not ping("ctl1", "10.77.1.151"), "the killed machine's address still answers"
    t0 = time.monotonic()
    lab("start", "ctl2")
    took = time.monotonic() - t0
    assert on("ctl2", "cat /root/kill-marker").stdout.strip() == "kept"
    assert on("ctl2", "systemctl is-system-running").stdout.strip() == "running"
    assert "10.77.1.151" not in on("ctl2", "ip -4 -o addr").stdout, "address survived power off"
    assert took < 60, f"start took {took:.0f}s"


def test_isolate_cuts_a_machine_off_both_networks_and_heal_restores_it():
    lab("isolate", "ctl3")
    try:
        for link in (0, 1):
            assert not ping("ctl1", addr("ctl3", link)), f"ctl3 still reachable on link {link}"
            assert not ping("ctl3", addr("ctl2", link)), f"ctl3 still reaches ctl2 on link {link}"
        assert "ISOLATED" in lab("status").stdout
        assert lab("status", "ctl3", check=False).returncode == 0, "isolation powered it off"
        lab("kill", "ctl3")
        lab("start", "ctl3", "--no-wait")
        wait_for(lambda: addr("ctl3") in subprocess.run(
            ["ip", "netns", "exec", "halab-ctl3", "ip", "-4", "-o", "addr", "show", "eth0"],
            capture_output=True, text=True).stdout, 30, "ctl3 to configure eth0 again")
        assert not ping("ctl1", addr("ctl3")), "a power cycle reconnected the isolated ctl3"
        assert "ISOLATED" in lab("status").stdout
    finally:
        lab("heal", "ctl3")
    for link in (0, 1):
        wait_for(lambda: ping("ctl1", addr("ctl3", link)), 10, f"ctl3 back on link {link}")
        assert ping("ctl3", addr("ctl2", link))
    assert "ISOLATED" not in lab("status").stdout


def test_start_adds_a_machine_beside_the_running_three_and_the_fence_agent_powers_it():
    """`start ctl4` is how a test adds hardware: a fourth machine at 10.77.1.14 with its fixture
    host key that resolves all five names; fence_halab on ctl1 cuts and restores its power."""
    assert all(lab("status", n, check=False).returncode == 0 for n in NODES)
    try:
        lab("start", "ctl4")
        assert on("ctl4", "hostname").stdout.strip() == "ctl4"
        assert on("ctl4", "systemctl is-system-running").stdout.strip() == "running"
        assert served_key("ctl4") == fixture_key("ctl4")
        for link in (0, 1):
            r = strict_ssh("ctl4", link)
            assert (r.returncode, r.stdout.strip()) == (0, "ctl4"), f"link {link}: {r.stderr.strip()}"
            assert ping("ctl4", addr("ctl1", link)) and ping("ctl3", addr("ctl4", link))
        names = [*ALL_NODES, *[f"{n}-link1" for n in ALL_NODES]]
        hosts = on("ctl4", f"getent hosts {' '.join(names)}").stdout
        resolved = {name: line.split()[0] for line in hosts.splitlines() for name in line.split()[1:]}
        assert {n: resolved.get(n) for n in ALL_NODES} == {n: addr(n) for n in ALL_NODES}
        assert {n: resolved.get(f"{n}-link1") for n in ALL_NODES} == {n: addr(n, 1) for n in ALL_NODES}

        r = fence("ctl1", stdin="action=off\nplug=ctl4\n")
        assert r.returncode == 0, r.stderr
        assert lab("status", "ctl4", check=False).returncode == 2
        assert not host_reaches(addr("ctl4"))
        r = fence("ctl1", stdin="action=on\nplug=ctl4\n")
        assert r.returncode == 0, r.stderr
        lab("start", "ctl4")  # already on: waits until it answers SSH
        assert on("ctl4", "hostname").stdout.strip() == "ctl4"
    finally:
        lab("kill", "ctl4", check=False)
    assert lab("status", "ctl4", check=False).returncode == 2


def test_wipe_replaces_the_hardware_and_reset_of_the_node_restores_its_fixture_key():
    on("ctl2", "echo old > /root/wipe-marker && sync")
    machine_id = on("ctl2", "cat /etc/machine-id").stdout.strip()
    try:
        printed = lab("wipe", "ctl2").stdout.strip()
        node, key = printed.split(" ", 1)
        assert node == "ctl2" and key.startswith("ssh-ed25519 "), printed
        assert key != fixture_key("ctl2")
        assert served_key("ctl2") == key
        for link in (0, 1):  # tools/lab put the new key into root's known_hosts
            r = strict_ssh("ctl2", link)
            assert (r.returncode, r.stdout.strip()) == (0, "ctl2"), f"link {link}: {r.stderr.strip()}"
        assert on("ctl2", "test -e /root/wipe-marker", check=False).returncode == 1, "the old disk survived"
        assert on("ctl2", "cat /etc/machine-id").stdout.strip() != machine_id
        assert on("ctl2", "systemctl is-system-running").stdout.strip() == "running"
        lab("kill", "ctl2")  # the new key is the machine's: it survives a power cycle
        lab("start", "ctl2")
        assert served_key("ctl2") == key
    finally:
        lab("reset", "ctl2")  # fresh disk, fixture key: the deployments pin it
    assert served_key("ctl2") == fixture_key("ctl2")
    r = strict_ssh("ctl2")
    assert (r.returncode, r.stdout.strip()) == (0, "ctl2"), r.stderr.strip()


def test_down_leaves_nothing_behind_and_up_brings_the_same_disks_back():
    on("ctl1", "echo kept > /root/down-marker && sync")
    lab("up", "--nodes", "5")
    assert [on(n, "hostname").stdout.strip() for n in ALL_NODES] == ALL_NODES
    lab("down")  # verifies itself (all five) and fails if anything is left
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert "halab" not in links and "hl-ctl" not in links
    assert not re.search(r"halab-ctl", subprocess.run(["ip", "netns"], capture_output=True, text=True).stdout)
    assert "ha-openstack-lab" not in open("/proc/self/mountinfo").read()
    lab("up")  # the default three
    assert on("ctl1", "cat /root/down-marker").stdout.strip() == "kept"
    assert [lab("status", n, check=False).returncode for n in ALL_NODES] == [0, 0, 0, 2, 2]


def ctl3_pid(status_out):
    return re.search(r"^ctl3: on pid (\d+)", status_out, re.M).group(1)


def corosync_conf():
    nodes = "".join(
        f"    node {{\n        ring0_addr: {addr(n, 0)}\n        ring1_addr: {addr(n, 1)}\n"
        f"        name: {n}\n        nodeid: {i}\n    }}\n" for i, n in enumerate(NODES, 1))
    return ("totem {\n    version: 2\n    cluster_name: halabtest\n    transport: knet\n"
            "    crypto_cipher: none\n    crypto_hash: none\n}\n"
            f"nodelist {{\n{nodes}}}\n"
            "quorum {\n    provider: corosync_votequorum\n}\n"
            "logging {\n    to_syslog: yes\n}\n")


def located(resource):
    out = on("ctl1", f"crm_resource --locate --resource {resource}", check=False).stdout
    m = re.search(r"is running on: (\S+)", out)
    return m.group(1) if m else None


def test_pacemaker_fences_through_fence_halab_and_moves_a_vip():
    """A real 3-node corosync (knet, both lab links) + Pacemaker cluster, a stonith device
    made with pcs, stonith_admin rebooting ctl3 through fence_halab; then an IPaddr2 VIP
    whose machine is killed: Pacemaker fences that machine and the VIP answers elsewhere."""
    conf = corosync_conf()
    save = ("test -e /etc/corosync/corosync.conf.labtest || "
            "cp -a /etc/corosync/corosync.conf /etc/corosync/corosync.conf.labtest")
    try:
        for n in NODES:
            on(n, f"{save} && cat > /etc/corosync/corosync.conf && systemctl start corosync pacemaker",
               input=conf)
        wait_for(lambda: "Online: [ ctl1 ctl2 ctl3 ]" in on("ctl1", "crm_mon -1", check=False).stdout,
                 90, "a 3-node cluster with ctl1..3 online")
        links = on("ctl1", "corosync-cfgtool -n").stdout
        assert links.count("enabled connected") == 4, f"not both knet links to both peers:\n{links}"
        # No pcmk_host_list: Pacemaker asks the agent (action list) whom it can fence.
        on("ctl1", "pcs stonith create fence-lab fence_halab")
        wait_for(lambda: "Started" in on("ctl1", "pcs stonith status", check=False).stdout,
                 60, "the stonith device to start")
        for n in NODES:
            devices = on("ctl1", f"stonith_admin --list {n}").stdout
            assert "fence-lab" in devices, f"Pacemaker finds no device to fence {n}: {devices}"
        pid_before = lab("status").stdout
        on("ctl1", "stonith_admin --reboot ctl3 --tolerance 0", timeout=120)
        assert "reboot of ctl3 successful" in on("ctl1", "stonith_admin --history ctl3").stdout
        lab("start", "ctl3")  # on again (the fence agent waited for that): wait for SSH
        assert on("ctl3", "systemctl is-active pacemaker", check=False).stdout.strip() == "inactive"
        assert ctl3_pid(lab("status").stdout) != ctl3_pid(pid_before), "ctl3 was not power cycled"

        on("ctl3", "systemctl start corosync pacemaker")
        wait_for(lambda: "Online: [ ctl1 ctl2 ctl3 ]" in on("ctl1", "crm_mon -1", check=False).stdout,
                 90, "ctl3 back in the cluster")
        on("ctl1", f"pcs resource create vip ocf:heartbeat:IPaddr2 ip={VIP_PCMK} cidr_netmask=24 "
                   "op monitor interval=5s && pcs constraint location vip prefers ctl2=50")
        wait_for(lambda: located("vip") == "ctl2" and host_reaches(VIP_PCMK), 60, "the VIP on ctl2")
        t0 = time.monotonic()
        lab("kill", "ctl2")
        wait_for(lambda: host_reaches(VIP_PCMK), 90, "the VIP to answer again after ctl2 died")
        failover = time.monotonic() - t0
        assert located("vip") in ("ctl1", "ctl3")
        assert "reboot of ctl2 successful" in on("ctl1", "stonith_admin --history ctl2").stdout
        print(f"VIP failover after kill: {failover:.1f}s")
    finally:
        lab("up")  # every machine on, whatever the test did to it
        for n in NODES:
            on(n, "systemctl stop pacemaker corosync; "
                  "test -e /etc/corosync/corosync.conf.labtest && "
                  "mv /etc/corosync/corosync.conf.labtest /etc/corosync/corosync.conf; "
                  "rm -rf /var/lib/pacemaker/cib/* /var/lib/pacemaker/pengine/* /var/lib/corosync/*",
               check=False, timeout=120)
