"""`tools/bench --drills`: failover seconds per drill over the recorded runs, median and worst.

The fault drills (tests/lab/conftest.py) append one JSON line per drill to
/var/lib/ha-openstack-lab/drill-results.jsonl (HA_DRILL_RESULTS elsewhere): session, drill,
tier, result, failover_s, written/found, the nodes fenced during the drill, the notes (the
node killed or isolated), the load average, the commit, and the detection and recovery
settings it ran with (the real corosync token and consensus, HAProxy's Galera check, ...).
Runs are grouped by drill and settings, so that a change of settings starts a new row.
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

DEFAULT_RESULTS = Path("/var/lib/ha-openstack-lab/drill-results.jsonl")
# The note naming the node a drill broke on purpose: the only node it may fence.
VICTIM_NOTES = ("killed", "isolated")


def load(path: Path) -> list[dict[str, Any]]:
    """Every well-formed line of the results file (a cut-off last line is skipped)."""
    out = []
    for line in path.read_text().splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(item, dict) and "drill" in item:
            out.append(item)
    return out


def settings_label(settings: dict[str, Any] | None) -> str:
    """A short, stable name for a set of settings: `token 3650 consensus 4380 galera inter 1000 ...`."""
    if not settings:
        return "-"
    parts = [f"token {settings.get('token_ms')}", f"consensus {settings.get('consensus_ms')}"]
    for key in ("link_mode", "stonith_timeout", "vip_monitor"):
        if key in settings:
            parts.append(f"{key} {settings[key]}")
    if settings.get("links"):
        parts.append("links " + json.dumps(settings["links"], sort_keys=True, separators=(",", ":")))
    if settings.get("galera_check"):
        parts.append(f"galera {settings['galera_check']}")
    if settings.get("galera_suspect_ms"):
        parts.append(f"galera suspect {settings['galera_suspect_ms']}")
    return ", ".join(parts)


def lost(item: dict[str, Any]) -> int:
    """Acknowledged writes (rows, confirmed messages) not found afterwards."""
    written, found = item.get("written"), item.get("found")
    return max(0, written - found) if isinstance(written, int) and isinstance(found, int) else 0


def unexpected_fences(item: dict[str, Any]) -> list[str]:
    """Nodes fenced during the drill other than the one it broke (a healthy node fenced)."""
    notes = item.get("notes") or {}
    victims = {notes[k] for k in VICTIM_NOTES if k in notes}
    if item.get("drill") == "galera_full_shutdown":
        victims.add("ctl1")  # powered off in its part B
    return sorted(set(item.get("fenced") or []) - victims)


@dataclass
class Row:
    drill: str
    settings: str
    runs: int = 0
    passed: int = 0
    seconds: list[float] = field(default_factory=list)
    lost: int = 0
    healthy_fenced: list[str] = field(default_factory=list)
    fence_unknown: int = 0
    sessions: set[str] = field(default_factory=set)

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    @property
    def worst(self) -> float | None:
        return max(self.seconds) if self.seconds else None


def summarize(items: Iterable[dict[str, Any]], tier: str | None = "tier1", since: str | None = None,
              by_settings: bool = True) -> list[Row]:
    """One row per drill (and settings): runs, passes, median and worst failover of the passed
    runs, rows/messages lost, healthy nodes fenced."""
    rows: dict[tuple[str, str], Row] = {}
    for item in items:
        if tier and item.get("tier", "tier1") != tier:
            continue
        if since and str(item.get("at", "")) < since:
            continue
        label = settings_label(item.get("settings")) if by_settings else "*"
        row = rows.setdefault((item["drill"], label), Row(item["drill"], label))
        row.runs += 1
        row.sessions.add(str(item.get("session")))
        row.lost += lost(item)
        if item.get("fenced") is None:
            row.fence_unknown += 1
        row.healthy_fenced += unexpected_fences(item)
        if item.get("result") == "passed":
            row.passed += 1
            if isinstance(item.get("failover_s"), (int, float)):
                row.seconds.append(float(item["failover_s"]))
    return sorted(rows.values(), key=lambda r: (r.settings, r.drill))


def table(rows: list[Row]) -> str:
    """The summary as text: settings as a heading, then one line per drill."""
    if not rows:
        return "no drill results"
    fmt = "{:<36} {:>4} {:>6} {:>8} {:>8} {:>5}  {}"
    out: list[str] = []
    current = None
    for row in rows:
        if row.settings != current:
            current = row.settings
            out += ["" if out else "", f"settings: {current}",
                    fmt.format("drill", "runs", "passed", "median s", "worst s", "lost", "healthy nodes fenced")]
        cells = ["-" if v is None else f"{v:.1f}" for v in (row.median, row.worst)]
        fenced = " ".join(row.healthy_fenced) or "none"
        if row.fence_unknown:
            fenced += f" ({row.fence_unknown} run(s) unknown)"
        out.append(fmt.format(row.drill, row.runs, row.passed, *cells, row.lost, fenced))
    return "\n".join(out).lstrip("\n")


def main(path: Path, tier: str | None, since: str | None, by_settings: bool) -> int:
    if not path.exists():
        print(f"no drill results in {path} (make drills appends to it)")
        return 1
    print(f"fault drills recorded in {path}" + (f" since {since}" if since else "")
          + f"; failover seconds of the passed runs")
    print(table(summarize(load(path), tier=tier, since=since, by_settings=by_settings)))
    return 0
