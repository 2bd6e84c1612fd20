"""`tools/bench --drills`: the drills' recorded results summarized per drill, median and worst."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .helpers import ROOT

sys.path.insert(0, str(ROOT / "tools" / "bench.d"))
import drills  # noqa: E402  (tools/bench.d/drills.py)

FAST = {"token_ms": 1500, "consensus_ms": 1800, "galera_check": "inter 500 fastinter 250 fall 2 rise 2"}
SLOW = {"token_ms": 3650, "consensus_ms": 4380, "galera_check": "inter 1000 fastinter 500 fall 3 rise 2"}


def line(drill: str, seconds: float | None, result: str = "passed", settings: dict = FAST, **more) -> str:
    item = {"session": more.pop("session", "s1"), "at": more.pop("at", "2026-12-01T06:00:00Z"), "drill": drill,
            "tier": more.pop("tier", "tier1"), "result": result, "failover_s": seconds, "written": None,
            "found": None, "fenced": more.pop("fenced", []), "notes": more.pop("notes", {}), "settings": settings}
    item.update(more)
    return json.dumps(item)


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "drill-results.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_median_and_worst_per_drill_and_settings(tmp_path: Path) -> None:
    path = write(tmp_path,
                 *[line("api_vip_loss", s, notes={"killed": "ctl2"}, fenced=["ctl2"]) for s in (7.0, 9.5, 6.0, 8.0, 12.0)],
                 line("api_vip_loss", 15.3, settings=SLOW),
                 line("api_vip_loss", None, result="failed"),  # counted as a run, not in the seconds
                 line("galera_node_loss", 2.5, written=100, found=99, notes={"killed": "ctl1"}, fenced=["ctl1", "ctl3"]),
                 line("galera_node_loss", 9.9, tier="kernel"),
                 '{"drill": "cut off')  # a line cut short by a killed session
    rows = drills.summarize(drills.load(path))
    by = {(r.drill, r.settings.split(",")[0]): r for r in rows}
    fast = by[("api_vip_loss", "token 1500")]
    assert (fast.runs, fast.passed, fast.median, fast.worst) == (6, 5, 8.0, 12.0)
    assert fast.healthy_fenced == [] and fast.lost == 0
    assert by[("api_vip_loss", "token 3650")].median == 15.3
    galera = by[("galera_node_loss", "token 1500")]
    assert (galera.runs, galera.median, galera.lost, galera.healthy_fenced) == (1, 2.5, 1, ["ctl3"])
    text = drills.table(rows)
    assert "settings: token 1500, consensus 1800, galera inter 500 fastinter 250 fall 2 rise 2" in text
    assert "api_vip_loss" in text and "12.0" in text and "ctl3" in text
    merged = drills.summarize(drills.load(path), by_settings=False)
    assert [r.runs for r in merged if r.drill == "api_vip_loss"] == [7]
    assert drills.summarize(drills.load(path), tier="kernel")[0].median == 9.9
    assert drills.summarize(drills.load(path), since="2026-12-02") == []


def test_bench_drills_prints_the_table(tmp_path: Path) -> None:
    path = write(tmp_path, line("network_partition", 7.5, notes={"isolated": "ctl2"}, fenced=["ctl2"]),
                 line("network_partition", 8.5, notes={"isolated": "ctl3"}, fenced=["ctl3"]))
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "bench"), "--drills", "--results", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "network_partition" in done.stdout and "8.0" in done.stdout and "8.5" in done.stdout
    assert "none" in done.stdout  # no healthy node fenced


def test_drill_conftest_writes_what_bench_reads(tmp_path: Path, monkeypatch) -> None:
    """The drills' results writer (tests/lab/conftest.py) and the reader agree on the format."""
    from tests.lab import conftest

    monkeypatch.setattr(conftest, "DRILL_RESULTS", tmp_path / "r.jsonl")
    record = conftest.DrillRecord("tests/lab/x.py::test_api_vip_loss", "api_vip_loss", failover_s=7.25,
                                  notes={"killed": "ctl3"}, fenced=["ctl3"])
    conftest.append_result(record, "passed", kernel=False)
    [item] = drills.load(tmp_path / "r.jsonl")
    assert item["drill"] == "api_vip_loss" and item["failover_s"] == 7.25 and item["result"] == "passed"
    assert item["settings"]["token_ms"] >= 1000 and "galera_check" in item["settings"]
    assert item["settings"]["galera_suspect_ms"] == 5000  # lab-aa's galera.suspect_timeout_ms
    [row] = drills.summarize([item])
    assert row.median == 7.25 and row.healthy_fenced == []
