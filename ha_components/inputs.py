"""Stack values that a larger program has as pulumi Outputs of other resources (issue 18).

What may be an Output: a host's SSH endpoint (`hosts[i].ssh.host`, `port`, `user`,
`private_key`, `host_key`), its cluster addresses (`hosts[i].addresses[j]`) and VIP addresses
(`vips[i].address`). Everything else stays plain, since names, node lists and counts decide
which resources exist and a preview must see the whole graph.

`stack_with_inputs(data)` puts a stand-in where an Output is (an unused address of the network
the value belongs to, a dummy host, user or key) and validates the stack as `validate_stack`
does, so plain values fail here, before any host is touched. The components render and wire
with the stand-ins; the remote layer calls `resolve` on every command, file and output text,
which puts in the real values once they are known and the same checks passed on them
(`_check`). Every connection also waits for those checks (`connection_inputs`), so a value
failing one fails `pulumi up` with the field-named message before any command runs. Nothing is
created inside an `apply`: it only checks values and builds strings.
"""
from __future__ import annotations

import base64
import re
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any, Iterator, Mapping

import pulumi

from .models import Host, Problem, StackConfig, StackConfigError, validate_stack
from .models.stack import Loc


@dataclass(frozen=True)
class InNetwork:
    """An Output address and the name of the declared network it will lie in. Needed when the
    stack declares more than one network: the prefixes rendered next to it (a VIP's netmask)
    come from that network, and the deploy-time check holds the value to it."""

    value: pulumi.Input[str]
    network: str


SSH_FIELDS = ("host", "port", "user", "private_key", "host_key")
# A well-formed ed25519 public key (32 zero bytes) standing in for an Output host key.
_KEY_BLOB = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + bytes(32)
PLACEHOLDER_HOST_KEY = "ssh-ed25519 " + base64.b64encode(_KEY_BLOB).decode()


def deferrable(loc: Loc) -> bool:
    """Whether the field at `loc` may be an Output."""
    match loc:
        case ("hosts", int(), "ssh", str(field)):
            return field in SSH_FIELDS
        case ("hosts", int(), "addresses", int()) | ("vips", int(), "address"):
            return True
    return False


@dataclass(frozen=True)
class _Resolved:
    """What the checks hand the remote layer: stand-in text -> real text, and the real stack."""

    texts: dict[str, str]
    stack: StackConfig


@dataclass(frozen=True)
class _Deferred:
    pattern: re.Pattern[str]  # matches any stand-in address in rendered text
    resolved: pulumi.Output[_Resolved]  # known once every Output is and the checks passed
    private_keys: dict[str, pulumi.Output[str]]  # host name -> an Output private key


_ACTIVE: _Deferred | None = None  # the program's stack with Outputs (one per program)


def stack_with_inputs(data: Mapping[str, Any]) -> StackConfig:
    """`validate_stack` for a config in which the fields listed above may be pulumi Outputs
    (an address as `InNetwork(output, network)` when several networks are declared). Raises
    StackConfigError for what is wrong with the plain values; the Outputs' values are checked
    at deploy time with the same messages."""
    global _ACTIVE
    found = dict(_find_inputs(data, ()))
    misplaced = [Problem(loc, "must be a plain value, not a pulumi Output: only hosts' ssh endpoints "
                         "and addresses and VIP addresses may come from other resources")
                 for loc in found if not deferrable(loc)]
    if misplaced:
        raise StackConfigError(misplaced)
    if not found:
        return validate_stack(dict(data))
    if _ACTIVE is not None:
        raise ValueError("one stack with Output inputs per program (ha_components.inputs)")
    networks = _networks(data)
    stand_ins, in_network, problems = _stand_ins(data, found, networks)
    if problems:
        raise StackConfigError(problems)
    stack = validate_stack(_replaced(data, stand_ins))

    checked = {loc: v for loc, v in found.items() if loc[-1] != "private_key"}  # the key stays out of the checks
    locs = list(checked)
    texts = {str(stand_ins[loc]): loc for loc in locs if loc[-2:-1] == ("addresses",) or loc[-1] == "address"}

    def check(values: list[Any]) -> _Resolved:
        real = dict(zip(locs, values))
        problems: list[Problem] = []
        try:
            real_stack = validate_stack(_replaced(data, {**stand_ins, **real}))
        except StackConfigError as err:
            problems = err.problems
        named = {p.loc for p in problems}
        problems += [Problem(loc, f"address {real[loc]} is not in network {name!r} ({networks[name]}), "
                                  "the network given for it")
                     for loc, name in in_network.items() if loc not in named and not _inside(real[loc], networks[name])]
        if problems:
            raise StackConfigError(problems)
        return _Resolved({text: str(_get(real_stack, loc)) for text, loc in texts.items()}, real_stack)

    resolved = pulumi.Output.all(*(_value(checked[loc]) for loc in locs)).apply(check)
    private_keys = {stack.hosts[loc[1]].name: pulumi.Output.secret(found[loc])
                    for loc in found if loc[-1] == "private_key"}
    alternatives = "|".join(re.escape(t) for t in sorted(texts, key=len, reverse=True)) or "(?!)"
    _ACTIVE = _Deferred(re.compile(rf"(?<![0-9.])(?:{alternatives})(?![0-9])"), resolved, private_keys)
    return stack


def reset() -> None:
    """Forget the program's Outputs (tests build several programs in one process)."""
    global _ACTIVE
    _ACTIVE = None


def resolve(value: Any) -> Any:
    """`value` (text, an Output, or a list or dict of them) with the real values in place of the
    stand-ins, once the checks passed. Unchanged when the stack has no Outputs, or for text
    without a stand-in."""
    if _ACTIVE is None or value is None:
        return value
    if isinstance(value, str) and not _ACTIVE.pattern.search(value):
        return value
    active = _ACTIVE
    return pulumi.Output.all(value, active.resolved).apply(lambda both: _substitute(active, *both))


def connection_inputs(host: Host) -> dict[str, pulumi.Input[Any]]:
    """The connection fields of a host of a stack with Outputs: the real values, known only once
    the checks passed, so that no command runs on a value that fails one. Empty otherwise."""
    if _ACTIVE is None:
        return {}
    resolved, name = _ACTIVE.resolved, host.name
    fields: dict[str, pulumi.Input[Any]] = {
        "host": resolved.apply(lambda r: r.stack.host(name).ssh.host),
        "port": resolved.apply(lambda r: r.stack.host(name).ssh.port),
        "user": resolved.apply(lambda r: r.stack.host(name).ssh.user),
        "host_key": resolved.apply(lambda r: r.stack.host(name).ssh.pinned_host_key),
    }
    if name in _ACTIVE.private_keys:
        fields["private_key"] = _ACTIVE.private_keys[name]
    return fields


def _substitute(active: _Deferred, value: Any, resolved: _Resolved) -> Any:
    if isinstance(value, str):
        return active.pattern.sub(lambda m: resolved.texts[m.group(0)], value)
    if isinstance(value, list):
        return [_substitute(active, v, resolved) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(active, v, resolved) for k, v in value.items()}
    return value


def _value(value: Any) -> pulumi.Output[Any]:
    return pulumi.Output.from_input(value.value if isinstance(value, InNetwork) else value)


def _find_inputs(value: Any, loc: Loc) -> Iterator[tuple[Loc, Any]]:
    if isinstance(value, (pulumi.Output, InNetwork)):
        yield loc, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _find_inputs(item, (*loc, key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _find_inputs(item, (*loc, i))


def _networks(data: Mapping[str, Any]) -> dict[str, IPv4Network]:
    out = {}
    for net in data.get("networks") or []:
        try:
            out[str(net["name"])] = IPv4Network(str(net["cidr"]))
        except (KeyError, TypeError, ValueError):
            pass  # validate_stack names the field
    return out


def _inside(value: Any, network: IPv4Network) -> bool:
    try:
        return IPv4Address(str(value)) in network
    except ValueError:
        return True  # not an address: validate_stack names the field


def _stand_ins(data: Mapping[str, Any], found: dict[Loc, Any],
               networks: dict[str, IPv4Network]) -> tuple[dict[Loc, Any], dict[Loc, str], list[Problem]]:
    """A plain value for every Output; which network each Output address is held to."""
    used = {str(a) for h in data.get("hosts") or [] for a in (h.get("addresses") or []) if isinstance(a, str)}
    used |= {str(v.get("address")) for v in data.get("vips") or []}
    stand_ins: dict[Loc, Any] = {}
    in_network: dict[Loc, str] = {}
    problems: list[Problem] = []
    for loc, value in found.items():
        if loc[-1] in SSH_FIELDS:
            host = data["hosts"][loc[1]]
            stand_ins[loc] = {
                "host": f"output-host-{loc[1]}", "port": 22, "private_key": "<output private key>",
                "user": "root" if not (host.get("ssh") or {}).get("become") else "output-user",
                "host_key": [PLACEHOLDER_HOST_KEY]}[str(loc[-1])]
            continue
        name = value.network if isinstance(value, InNetwork) else (next(iter(networks)) if len(networks) == 1 else None)
        if name not in networks:
            problems.append(Problem(loc, f"network {name!r} is not declared" if name else
                                    "an Output address needs the network it will lie in when several are "
                                    "declared: ha_components.inputs.InNetwork(output, network=NAME)"))
            continue
        in_network[loc] = name
        stand_ins[loc] = _free_address(networks[name], used)
        used.add(stand_ins[loc])
    return stand_ins, in_network, problems


def _free_address(network: IPv4Network, used: set[str]) -> str:
    """The highest address of the network that nothing in the stack uses (from the top: the
    low ones are where operators number their hosts)."""
    candidate = network.broadcast_address - 1
    while str(candidate) in used:
        candidate -= 1
        if candidate <= network.network_address:
            raise StackConfigError([Problem(("networks",), f"{network} has no free address left")])
    return str(candidate)


def _replaced(value: Any, values: dict[Loc, Any], loc: Loc = ()) -> Any:
    """A copy of the config with the values at the given field paths replaced."""
    if loc in values:
        return values[loc]
    if isinstance(value, Mapping):
        return {k: _replaced(v, values, (*loc, k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_replaced(v, values, (*loc, i)) for i, v in enumerate(value)]
    return value


def _get(model: Any, loc: Loc) -> Any:
    for part in loc:
        model = model[part] if isinstance(part, int) else getattr(model, part)
    return model
