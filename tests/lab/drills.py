"""Fault-drill helpers: clients that keep working through a fault, and the cluster's health.

The clients run in threads and record every acknowledged write (a committed row, a
confirmed message) with its time, so a drill can say what the clients saw: the longest
gap between two acknowledgements (the outage) and whether every acknowledged write is
still there afterwards.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from contextlib import contextmanager
from typing import Any, Callable, Iterator
from urllib.parse import SplitResult, unquote, urlsplit

import pika
import pymysql

from .conftest import NODES, lab, on

SQL_TIMEOUT = 5  # seconds a statement may hang on a dead server before the client gives up


class Acks:
    """Acknowledged writes in order, with when each was acknowledged."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.times: list[float] = []
        self.errors: list[str] = []
        self.error_times: list[float] = []  # wall clock, to line errors up with other logs

    def ack(self, n: int) -> None:
        self.ids.append(n)
        self.times.append(time.monotonic())

    def error(self, err: BaseException) -> None:
        self.errors.append(f"{type(err).__name__}: {err}")
        self.error_times.append(time.time())

    def longest_gap(self, since: float) -> float:
        """The longest time without an acknowledgement after `since` (up to the last one)."""
        start, end = self.longest_gap_window(since)
        return end - start

    def longest_gap_window(self, since: float) -> tuple[float, float]:
        """(last acknowledgement before, first after) the longest gap, monotonic clock."""
        times = [since] + [t for t in self.times if t > since]
        return max(zip(times, times[1:]), key=lambda pair: pair[1] - pair[0], default=(since, since))

    def count_since(self, since: float) -> int:
        return sum(1 for t in self.times if t > since)


class Worker:
    """A client loop in a daemon thread: `step()` until stopped; errors are recorded and retried."""

    def __init__(self, name: str) -> None:
        self.acks = Acks()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "Worker":
        self._thread.start()
        return self

    def stop(self, timeout: float = 60) -> None:
        self._stop.set()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"{self._thread.name} did not stop within {timeout}s"

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception as err:  # noqa: BLE001 - a fault drill expects failures; they are counted
                self.acks.error(err)
                self.reset()
                time.sleep(0.2)

    def step(self) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """Drop the connection after an error; the next step reconnects."""


# --- SQL through the HAProxy VIP -------------------------------------------------------------


def sql_connect(url: SplitResult, database: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(host=url.hostname, port=url.port or 3306, user=unquote(url.username or ""),
                           password=unquote(url.password or ""), database=database or url.path.lstrip("/"),
                           connect_timeout=SQL_TIMEOUT, read_timeout=SQL_TIMEOUT, write_timeout=SQL_TIMEOUT)


def sql_url(database_url: str) -> SplitResult:
    """mysql+pymysql://user:pw@host[:port]/db?charset=... as the drills need it."""
    return urlsplit(database_url.replace("mysql+pymysql://", "mysql://", 1))


class SqlWriter(Worker):
    """Inserts rows 1, 2, 3, ... each in its own committed transaction. A row whose commit
    failed is retried; a duplicate key on the retry means the first commit did land."""

    def __init__(self, url: SplitResult, table: str) -> None:
        super().__init__("sql-writer")
        self.url, self.table = url, table
        self.conn: pymysql.connections.Connection | None = None
        self.next = 1

    def step(self) -> None:
        if self.conn is None:
            self.conn = sql_connect(self.url)
        try:
            with self.conn.cursor() as cur:
                cur.execute(f"INSERT INTO {self.table} (n) VALUES (%s)", (self.next,))
            self.conn.commit()
        except pymysql.err.IntegrityError as err:
            if err.args[0] != 1062:  # ER_DUP_ENTRY: committed before the connection broke
                raise
            self.conn.rollback()
        self.acks.ack(self.next)
        self.next += 1
        time.sleep(0.01)

    def reset(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
        self.conn = None


@contextmanager
def drill_table(url: SplitResult, name: str = "ha_drill_rows") -> Iterator[str]:
    """A fresh table for SqlWriter's rows (n INT PRIMARY KEY), dropped afterwards."""
    conn = sql_connect(url)
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {name}")
        cur.execute(f"CREATE TABLE {name} (n INT PRIMARY KEY, at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6))")
    conn.commit()
    conn.close()
    yield name
    conn = sql_connect(url)
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {name}")
    conn.close()


def sql_rows(url: SplitResult, table: str) -> set[int]:
    conn = sql_connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT n FROM {table}")
            return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


def sql_works(url: SplitResult) -> bool:
    """One committed write and a read through the VIP."""
    conn = sql_connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS ha_drill_probe (id INT PRIMARY KEY, t DOUBLE)")
            cur.execute("REPLACE INTO ha_drill_probe VALUES (1, %s)", (time.time(),))
            conn.commit()
            cur.execute("SELECT COUNT(*) FROM ha_drill_probe")
            return cur.fetchone()[0] == 1
    finally:
        conn.close()


# --- RabbitMQ through the transport_url hosts ------------------------------------------------


def amqp_params(transport_url: str, first: str | None = None) -> list[pika.ConnectionParameters]:
    """One ConnectionParameters per host of an oslo.messaging transport_url, `first` first."""
    hosts = [urlsplit("rabbit://" + part.split("://")[-1]) for part in transport_url.split(",")]
    if first:
        hosts.sort(key=lambda h: h.hostname != first)
    vhost = unquote(hosts[0].path.lstrip("/")) or "/"
    return [pika.ConnectionParameters(
        host=h.hostname, port=h.port or 5672, virtual_host=vhost,
        credentials=pika.PlainCredentials(unquote(h.username or ""), unquote(h.password or "")),
        heartbeat=5, blocked_connection_timeout=10, socket_timeout=3, stack_timeout=10,
        connection_attempts=1, retry_delay=0) for h in hosts]


# Durable queue types: a quorum queue replicated over the RabbitMQ cluster (active/active); a
# classic durable queue on the single broker whose disk DRBD replicates (active/passive).
QUORUM, CLASSIC = "quorum", "classic"


class AmqpClient(Worker):
    def __init__(self, name: str, params: list[pika.ConnectionParameters], queue: str,
                 queue_type: str = QUORUM) -> None:
        super().__init__(name)
        self.params, self.queue, self.queue_type = params, queue, queue_type
        self.conn: pika.BlockingConnection | None = None

    def channel(self) -> Any:
        self.conn = pika.BlockingConnection(self.params)  # tries the hosts in order
        channel = self.conn.channel()
        channel.queue_declare(self.queue, durable=True, arguments={"x-queue-type": self.queue_type})
        return channel

    def reset(self) -> None:
        if self.conn is not None and self.conn.is_open:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
        self.conn = None


class Publisher(AmqpClient):
    """Publishes 1, 2, 3, ... persistent, mandatory, with publisher confirms; a message is
    acknowledged once the broker confirmed it (an unconfirmed one is published again)."""

    def __init__(self, params: list[pika.ConnectionParameters], queue: str, queue_type: str = QUORUM) -> None:
        super().__init__("amqp-publisher", params, queue, queue_type)
        self.ch: Any = None
        self.next = 1

    def step(self) -> None:
        if self.ch is None:
            self.ch = self.channel()
            self.ch.confirm_delivery()
        self.ch.basic_publish("", self.queue, str(self.next).encode(), mandatory=True,
                              properties=pika.BasicProperties(delivery_mode=2))
        self.acks.ack(self.next)
        self.next += 1
        time.sleep(0.005)

    def reset(self) -> None:
        super().reset()
        self.ch = None


class Consumer(AmqpClient):
    """Consumes with manual acks (acked after recording): at-least-once."""

    def __init__(self, params: list[pika.ConnectionParameters], queue: str, queue_type: str = QUORUM) -> None:
        super().__init__("amqp-consumer", params, queue, queue_type)
        self.received: set[int] = set()

    def step(self) -> None:
        ch = self.channel()
        ch.basic_qos(prefetch_count=100)
        for method, _props, body in ch.consume(self.queue, inactivity_timeout=1):
            if method is not None:
                self.received.add(int(body))
                ch.basic_ack(method.delivery_tag)
                self.acks.ack(int(body))
            if self.stopping:
                break
        self.reset()


# --- keystone through the VIP ----------------------------------------------------------------


def admin_password() -> str:
    return on("ctl1", ". /root/.ha-openstack-admin-openrc && printf %s \"$OS_PASSWORD\"").stdout


def token(vip: str, password: str, timeout: float = 5) -> bool:
    """A project-scoped admin token from keystone through the VIP (201 Created)."""
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    request = urllib.request.Request(f"http://{vip}:5000/v3/auth/tokens", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status == 201 and bool(response.headers["X-Subject-Token"])


class TokenRequester(Worker):
    """Asks keystone for a token through the VIP again and again; each 201 is acknowledged."""

    def __init__(self, vip: str, password: str) -> None:
        super().__init__("token-requester")
        self.vip, self.password, self.next = vip, password, 1

    def step(self) -> None:
        if token(self.vip, self.password):
            self.acks.ack(self.next)
            self.next += 1
        time.sleep(0.2)


def engine_steps(events_json: str) -> list[tuple[float, str]]:
    """(wall time, "op resource-name") of each step a `pulumi up` started that changed something,
    from its engine events (EngineUp.events_json)."""
    steps = []
    for line in events_json.splitlines():
        event = json.loads(line)
        meta = (event.get("resource_pre_event") or {}).get("metadata") or {}
        op = meta.get("op")
        op = op.get("_value_") if isinstance(op, dict) else str(op or "")
        op = op.split(".")[-1].lower()
        if meta and op not in ("same", "read"):
            steps.append((float(event.get("timestamp") or 0), f"{op} {str(meta.get('urn')).rsplit('::', 1)[-1]}"))
    return steps


def timeline(workers: dict[str, "Worker"], events_json: str, since: float) -> list[str]:
    """Client errors and engine steps after `since` (wall clock) in one list, oldest first:
    which change was running when a client failed."""
    lines = [(t, f"{name} error: {text[:160]}") for name, w in workers.items()
             for t, text in zip(w.acks.error_times, w.acks.errors) if t >= since]
    lines += [(t, what) for t, what in engine_steps(events_json) if t >= since]
    return [f"{t - since:7.1f}s {what}" for t, what in sorted(lines)]


class LoadSampler(Worker):
    """The host's highest 1-minute load average while it runs (every lab machine shares it)."""

    def __init__(self) -> None:
        super().__init__("load-sampler")
        self.peak = 0.0

    def step(self) -> None:
        self.peak = max(self.peak, os.getloadavg()[0])
        time.sleep(5)


# --- the cluster as the operator sees it -----------------------------------------------------


def crm_mon(nodes: list[str] = NODES, kernel: bool = False) -> ET.Element:
    """crm_mon's XML from the first of `nodes` that answers with a cluster view."""
    for node in nodes:
        r = on(node, "crm_mon -1 --output-as=xml --include=failcounts", check=False, timeout=30, kernel=kernel)
        if r.returncode == 0:
            return ET.fromstring(r.stdout)
    raise AssertionError(f"no crm_mon from any of {nodes}")


def resource_node(mon: ET.Element, resource_id: str) -> str | None:
    for r in mon.find("resources").iter("resource"):
        if r.get("id") == resource_id and r.get("role") == "Started":
            node = r.find("node")
            return node.get("name") if node is not None else None
    return None


def blocking_failures(mon: ET.Element) -> list[str]:
    """Fail counts that keep a resource off a node: at its migration-threshold (a failed start
    counts INFINITY). A failed monitor that was recovered in place is history, not a block."""
    def score(value: str) -> int:
        return 1000000 if value.lstrip("+").upper() == "INFINITY" else int(value)

    history = mon.find("node_history")
    return [f"{r.get('id')} on {node.get('name')} (fail-count {r.get('fail-count')})"
            for node in (history if history is not None else [])
            for r in node.iter("resource_history")
            if r.get("fail-count") and score(r.get("fail-count")) >= score(r.get("migration-threshold", "INFINITY"))]


def failed_actions(mon: ET.Element) -> list[str]:
    failures = mon.find("failures")
    return [f"{f.get('op_key')} on {f.get('node')}: {f.get('exitreason') or f.get('status')}"
            for f in (failures if failures is not None else [])]


def galera_status(node: str) -> dict[str, str]:
    out = on(node, "mysql -N -B -e \"SHOW GLOBAL STATUS WHERE Variable_name IN "
                   "('wsrep_cluster_size','wsrep_local_state_comment','wsrep_cluster_status')\"",
             check=False, timeout=20).stdout
    return dict(line.split("\t", 1) for line in out.strip().splitlines() if "\t" in line)


def haproxy_server_status(node: str, listener: str) -> dict[str, str]:
    """{server: status} of one listener from HAProxy's stats socket on node (UP, DOWN, ...)."""
    stats = on(node, "echo 'show stat' | socat stdio /run/haproxy/admin.sock", check=False, timeout=20).stdout
    lines = stats.splitlines()
    if not lines:
        return {}
    header = lines[0].lstrip("# ").split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1:] if line]
    return {r["svname"]: r["status"] for r in rows
            if r.get("pxname") == listener and r["svname"] not in ("FRONTEND", "BACKEND")}


def last_fenced(target: str, nodes: list[str] = NODES, kernel: bool = False) -> float:
    """When the cluster last fenced target successfully (epoch seconds; 0: never), from the
    fencer's history (its lines end with completed='YYYY-MM-DD HH:MM:SSZ' or last-successful=...;
    the history keeps the latest event per target and action, not every one)."""
    for node in nodes:
        if node == target:
            continue
        r = on(node, f"stonith_admin --history {target} --verbose", check=False, timeout=30, kernel=kernel)
        if r.returncode == 0:
            stamps = re.findall(r"successful.*?(?:completed|last-successful)='([0-9-]+ [0-9:.]+)Z?'", r.stdout)
            return max((datetime.strptime(t[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
                        for t in stamps), default=0.0)
    raise AssertionError(f"no fence history for {target}")


def cluster_problem() -> str | None:
    """None when the control plane is whole: every Pacemaker node online, cl_haproxy and the
    API VIP started, Galera Primary/Synced with 3 members on every node, RabbitMQ 3 running
    nodes. Otherwise the first thing that is not so."""
    for n in NODES:
        if lab("status", n, check=False).returncode != 0:
            return f"{n} is powered off"
    mon = crm_mon()
    for node in mon.find("nodes"):
        if node.get("online") != "true" or node.get("unclean") != "false":
            return f"{node.get('name')} is not online in Pacemaker"
    started = [r for r in mon.find("resources").iter("resource") if r.get("role") == "Started"]
    if sum(1 for r in started if r.get("id") == "p_haproxy") != len(NODES):
        return "cl_haproxy does not run on every node"
    if resource_node(mon, "p_ip_api") is None:
        return "the API VIP is not started"
    for n in NODES:
        status = galera_status(n)
        if status != {"wsrep_cluster_size": "3", "wsrep_local_state_comment": "Synced",
                      "wsrep_cluster_status": "Primary"}:
            return f"Galera on {n}: {status}"
    for n in NODES:
        out = on(n, "rabbitmqctl cluster_status --formatter json", check=False, timeout=60).stdout
        if not out.strip() or len(json.loads(out)["running_nodes"]) != len(NODES):
            return f"RabbitMQ seen from {n}: not {len(NODES)} running nodes"
    return None


def wait_healthy(timeout: float = 300, problem: Callable[[], str | None] = cluster_problem) -> float:
    """Seconds until problem() (default: lab-aa's cluster_problem) is None; fails naming the last problem."""
    last: list[str | None] = ["not checked"]

    def whole() -> bool:
        last[0] = problem()
        return last[0] is None

    seconds = until(whole, timeout, interval=3)
    assert seconds is not None, f"the cluster is not whole after {timeout:.0f}s: {last[0]}"
    return seconds


def power_on(node: str, lost_at: float, kernel: bool = False) -> bool:
    """Start node once the cluster has fenced it after `lost_at` (time.time() when it was cut):
    Pacemaker fences a lost node a few seconds later, whatever it does meanwhile, so a machine
    started before that would be powered off again. False if it was on already."""
    assert until(lambda: last_fenced(node, kernel=kernel) >= lost_at - 1, 120), f"{node} was not fenced"
    if lab("status", node, check=False, kernel=kernel).returncode == 0:
        return False
    r = lab("start", node, check=False, kernel=kernel)
    if r.returncode != 0:
        # Seen once under heavy host load: booted (console) but no SSH within 180 s. Say so, with
        # what the lab saw, rather than leave a half-started machine to the next drill.
        raise AssertionError(f"tools/lab start {node} failed:\n{r.stdout}{r.stderr}\n"
                             f"{lab('status', check=False, kernel=kernel).stdout}")
    return True


def until_acks(worker: Worker, since: float, count: int, timeout: float) -> float | None:
    """Seconds until worker acknowledged `count` writes after `since` (monotonic), or None."""
    return until(lambda: worker.acks.count_since(since) >= count, timeout)


def until(check: Callable[[], Any], timeout: float, interval: float = 0.5) -> float | None:
    """Seconds until check() is truthy (exceptions count as not yet), or None at the timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if check():
                return time.monotonic() - start
        except Exception:  # noqa: BLE001 - not there yet
            pass
        time.sleep(interval)
    return None


def diagnose(kernel: bool = False) -> str:
    """What an operator would look at first, from every machine that answers."""
    out = [lab("status", check=False, kernel=kernel).stdout]
    for n in NODES:
        r = on(n, "crm_mon -1 -f 2>&1 | head -40; stonith_admin --history '*' 2>&1 | tail -5; "
                  "cat /proc/drbd 2>/dev/null; "
                  "systemctl --no-pager is-active pacemaker corosync mariadb haproxy rabbitmq-server; "
                  "journalctl --no-pager -o short-monotonic -n 40 -u corosync -u pacemaker -u mariadb -u haproxy 2>&1; "
                  # Why a node was fenced or a resource moved: the DC's reasons, older than the tail.
                  "echo '--- fence and failure reasons'; journalctl --no-pager -o short-monotonic -u corosync "
                  "-u pacemaker 2>&1 | grep -E -i 'fenc|stonith|lost|timed out|failed|error' | tail -30",
               check=False, timeout=60, kernel=kernel)
        out.append(f"--- {n} (exit {r.returncode})\n{r.stdout}{r.stderr}")
    return "\n".join(out)
