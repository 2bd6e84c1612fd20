"""`diagram`: every shipped stack drawn as valid SVG naming its hosts, VIPs and cluster objects."""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ha_components.diagram import collect, parse_cib, render
from ha_components.render.cib import CibChange, Clone, Colocation, Group, Order, Primitive
from ha_components.stackfile import load_stack_file

from .helpers import ROOT, SHIPPED_STACKS

SVG = "{http://www.w3.org/2000/svg}"


def svg_texts(svg: bytes) -> str:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return "\n".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))


@pytest.mark.parametrize("stack_file", SHIPPED_STACKS, ids=lambda p: p.name)
def test_every_shipped_stack_is_drawn(stack_file: Path) -> None:
    stack = load_stack_file(stack_file)
    text = svg_texts(render(collect(stack, stack_file.stem), "svg"))
    for host in stack.hosts:
        assert host.name in text
        for address in host.addresses:
            assert str(address) in text
    for vip in stack.vips:
        assert f"VIP {vip.name}" in text and str(vip.address) in text
    assert f"Pacemaker cluster {stack.pacemaker.cluster_name}" in text
    for vol in stack.drbd:
        assert f"DRBD {vol.name}" in text
    if stack.galera:
        assert "Galera" in text
    if stack.rabbitmq:
        assert "RabbitMQ cluster" in text
    if stack.haproxy:
        assert "HAProxy listeners" in text and "galera :3306" in text


def test_lab_ap_shows_groups_clones_and_constraints() -> None:
    dot = collect(load_stack_file(ROOT / "stacks" / "Pulumi.lab-ap.yaml"))
    assert "g_mysql (group)" in dot and "ms_drbd_mysql (promotable clone)" in dot
    assert '"rsc:g_mysql" -> "rsc:ms_drbd_mysql" [label="colocated with Promoted"' in dot
    assert '"rsc:ms_drbd_mysql" -> "rsc:g_mysql" [label="promote then start"' in dot
    assert '"vip:mysql" -> "rsc:g_mysql" [label="carried by"' in dot
    assert '"drbd:mysql" -> "host:ctl1"' in dot and '"drbd:mysql" -> "host:ctl2"' in dot


def test_parse_cib_reads_what_components_push() -> None:
    ip = Primitive("p_ip_x", "ocf:heartbeat:IPaddr2", {"ip": "10.0.0.5"})
    change = CibChange("x", resources=(Group("g_x", (ip, Primitive("p_y", "systemd:y"))),
                                       Clone("cl_z", Primitive("p_z", "systemd:z"))),
                       constraints=(Colocation("c", "g_x", "cl_z"), Order("o", "cl_z", "g_x", kind="Optional")))
    cib = parse_cib([change.to_xml()])
    assert [(r.id, r.kind) for r in cib.resources] == [("g_x", "group"), ("cl_z", "clone")]
    assert cib.resources[0].members == (("p_ip_x", "ocf:heartbeat:IPaddr2"), ("p_y", "systemd:y"))
    assert cib.resources[0].params["ip"] == "10.0.0.5"
    assert cib.colocations == [("g_x", "cl_z", "")]
    assert cib.orders == [("cl_z", "g_x", "start then start (optional)")]


def test_cli_writes_svg(tmp_path: Path) -> None:
    out = tmp_path / "topology.svg"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "ha_components", "diagram",
                           str(ROOT / "stacks" / "Pulumi.lab-aa.yaml"), "--out", str(out)],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "lab-aa: active-active" in svg_texts(out.read_bytes())
    bad = subprocess.run([sys.executable, "-m", "ha_components", "diagram",
                          str(ROOT / "stacks" / "Pulumi.lab-aa.yaml"), "--out", str(tmp_path / "x.gif")],
                         env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "write .svg, .png or .dot" in bad.stderr


@pytest.mark.parametrize("name", ["lab-aa", "lab-ap"])
def test_readme_pictures_match_their_stacks(name: str) -> None:
    """docs/<stack>.svg (shown in the README) names what the stack has; regenerate with
    python -m ha_components diagram stacks/Pulumi.<stack>.yaml --out docs/<stack>.svg"""
    stack = load_stack_file(ROOT / "stacks" / f"Pulumi.{name}.yaml")
    text = svg_texts((ROOT / "docs" / f"{name}.svg").read_bytes())
    names = [h.name for h in stack.hosts] + [f"VIP {v.name}" for v in stack.vips]
    names += [str(a) for h in stack.hosts for a in h.addresses] + [str(v.address) for v in stack.vips]
    assert [n for n in names if n not in text] == []
