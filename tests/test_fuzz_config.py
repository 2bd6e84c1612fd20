"""Bad input found by a machine: the shipped stacks, mutated by hypothesis, through `validate`.

Every mutated stack is either accepted or rejected with problems that each name a field
path that exists in the stack (or the missing key's place); never another exception,
never a hang (a per-case deadline). The profile `fuzz` (the default here) runs
HA_FUZZ_EXAMPLES cases (2500) per shipped stack family; `HA_FUZZ_EXAMPLES=200000` for a long hunt.
"""
from __future__ import annotations

import copy
import os
import re
from datetime import timedelta
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ha_components.__main__ import main
from ha_components.models import StackConfigError, format_loc
from ha_components.stackfile import check_offline, config_from_stack_file

from .helpers import SHIPPED_STACKS

EXAMPLES = int(os.environ.get("HA_FUZZ_EXAMPLES", "2500"))
settings.register_profile(
    "fuzz", max_examples=EXAMPLES, deadline=timedelta(seconds=2), database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])

BASES = {p.name: config_from_stack_file(p) for p in SHIPPED_STACKS}
Path_ = tuple[str | int, ...]

# Values that break parsers and renderers: control characters, shell and INI syntax, unicode.
NASTY = ["", " ", "\n", "a\nb", "x\x00y", "$(reboot)", "`id`", "a;b", "a b", "[section]", "k = v",
         "#", "%", "{{ x }}", "\u202eevil", "ctl\u0131", "ünïcødé", "🐧", "\ud800", "../../etc/passwd",
         "-rf", "A" * 4097, "0", "-1", "1e400", "null", "true"]
NUMBERS = [-(2**63), -1, 0, 1, 2, 3, 4, 7, 1023, 1024, 65535, 65536, 2**31, 2**63, 10**100]


def junk() -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.sampled_from(NUMBERS),
                        st.integers(min_value=-(2**70), max_value=2**70),
                        st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(NASTY),
                        st.text(max_size=40), st.integers(min_value=4, max_value=6).map(lambda n: "A" * 10**n))
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
        max_leaves=8)


def addresses(data: dict[str, Any]) -> st.SearchStrategy[str]:
    """Addresses and networks near the stack's own: equal, overlapping, broadcast, malformed."""
    declared = data.get("networks")
    nets = [n["cidr"] for n in declared if isinstance(n, dict) and isinstance(n.get("cidr"), str)] \
        if isinstance(declared, list) else []
    near: list[str] = []
    for cidr in nets:
        try:
            net = IPv4Network(cidr, strict=False)
        except ValueError:
            continue
        near += [str(net), str(net.supernet()), str(next(net.subnets())), str(net.network_address),
                 str(net.broadcast_address), str(net.network_address + 1), f"{net.network_address}/33"]
    octet = st.integers(min_value=0, max_value=300)
    dotted = st.builds(lambda a, b, c, d: f"{a}.{b}.{c}.{d}", octet, octet, octet, octet)
    prefixed = st.builds(lambda a, p: f"{a}/{p}", dotted, st.integers(min_value=-1, max_value=40))
    fixed = ["0.0.0.0", "255.255.255.255", "::1", "10.77.1.0/24", "10.77.0.0/16", "127.0.0.1", "1.2.3"]
    return st.one_of(st.sampled_from(near or fixed), st.sampled_from(fixed), dotted, prefixed)


def walk(value: Any, path: Path_ = ()) -> list[Path_]:
    out = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += walk(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += walk(item, (*path, i))
    return out


def get(data: Any, path: Path_) -> Any:
    for part in path:
        data = data[part]
    return data


def strings(data: dict[str, Any]) -> list[str]:
    return [v for p in walk(data) if isinstance(v := get(data, p), str)] or ["x"]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, dict[str, Any], list[str]]:
    name = draw(st.sampled_from(sorted(BASES)))
    data = copy.deepcopy(BASES[name])
    log = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = walk(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = get(data, path[:-1]), path[-1]
        op = draw(st.sampled_from(["delete", "junk", "number", "reference", "duplicate", "address",
                                   "unicode", "unknown-key"]))
        if op == "delete":
            del parent[key]
        elif op == "junk":
            parent[key] = draw(junk())
        elif op == "number":
            parent[key] = draw(st.sampled_from(NUMBERS))
        elif op == "reference":  # another string of the stack: wrong references, duplicate names
            parent[key] = draw(st.sampled_from(strings(data)))
        elif op == "duplicate":
            target = get(data, path)
            if isinstance(target, list) and target:
                target.append(copy.deepcopy(draw(st.sampled_from(target))))
            elif isinstance(parent, list):
                parent.append(copy.deepcopy(parent[key]))
        elif op == "address":
            parent[key] = draw(addresses(data))
        elif op == "unicode":
            value = parent[key]
            parent[key] = (value if isinstance(value, str) else "") + draw(st.sampled_from(NASTY))
        elif op == "unknown-key":
            target = get(data, path)
            if isinstance(target, dict):
                target[draw(st.sampled_from(["extra", "ssh", "🐧", "name"]))] = draw(junk())
        log.append(f"{op} {path}")
    return name, data, log


# A problem's path: dotted names and [indexes] that exist in the stack, or the missing key.
PATH = re.compile(r'^(<stack>|[A-Za-z_][\w-]*|\["[^\n]*?"\])((\.[A-Za-z_][\w-]*)|(\[\d+\])|(\["[^\n]*?"\]))*$')


def assert_names_a_field(data: dict[str, Any], problem: Any) -> None:
    text = str(problem)
    loc = problem.loc
    assert loc, f"no field path: {text!r}"  # noqa
    shown = format_loc(loc)
    assert text.startswith(f"{shown}: ") and PATH.match(shown), f"not a field path: {text!r}"
    node: Any = data
    for part in loc:  # the path exists up to the missing key (or defaulted section) it names
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            assert isinstance(node, (dict, list)) or node is None, f"{text!r}: {part!r} is inside a scalar"
            break


@settings(settings.get_profile("fuzz"))
@given(mutated())
def test_mutated_stacks_are_accepted_or_rejected_by_field(case: tuple[str, dict[str, Any], list[str]]) -> None:
    name, data, log = case
    try:
        check_offline(data)
    except StackConfigError as err:
        assert err.problems, log
        for problem in err.problems:
            assert_names_a_field(data, problem)
    except Exception as err:  # a traceback of ours: report the mutation, not the whole stack
        raise AssertionError(f"{name} {log}: {type(err).__name__}: {err}") from err


@pytest.mark.parametrize("text", [
    "config: [1, 2]\n", "- a\n", "config:\n  ha-openstack:hosts: {}\n", "\x00\x01",
    "config: {ha-openstack:topology: active-active, ha-openstack:🐧: 1}\n", "config: !!python/object:os.system {}\n",
    "config:\n  a: &a [*a]\n", "{{{{",
])
def test_malformed_stack_files_exit_non_zero_without_traceback(tmp_path: Path, text: str,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}: ") and "Traceback" not in err
