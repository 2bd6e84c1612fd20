"""Issue 6, drill 6: a host unreachable during `pulumi up` of lab-aa.

Its own fresh lab (reset): ctl3 is isolated before the first `up`. The `up` must fail
with an error naming ctl3, keep a consistent state (no pending operation, nothing of ctl3
recorded as created, the other hosts' work recorded), and once ctl3 is healed, the same
`up` must converge with no manual step; a further `up` changes nothing.
"""
from __future__ import annotations

import time

import pytest
from pulumi import automation as auto

from .conftest import REPO, STACK_AA, STACK_AA_FILE, EngineStack, lab, require_root, toolchain_env
from .drills import wait_healthy

pytestmark = [pytest.mark.lab, pytest.mark.drills]

VICTIM, VICTIM_ADDRESS = "ctl3", "10.77.1.13"


def test_unreachable_host_during_deployment(tmp_path, drill_record):
    require_root()
    toolchain_env()
    lab("reset")
    stack = EngineStack(REPO, STACK_AA, tmp_path)
    try:
        lab("isolate", VICTIM)
        start = time.monotonic()
        with pytest.raises(auto.CommandError) as failed:
            stack.up(STACK_AA_FILE)
        drill_record.notes["failed up s"] = f"{time.monotonic() - start:.0f}"
        message = str(failed.value)
        assert VICTIM_ADDRESS in message or VICTIM in message, message[-3000:]

        # The state is consistent: no operation left pending, nothing of ctl3 created, the
        # other hosts' first steps recorded.
        assert stack.pending_operations() == []
        names = [r["urn"].split("::")[-1] for r in stack.resources()]
        assert not [n for n in names if VICTIM in n], [n for n in names if VICTIM in n]
        for node in ("ctl1", "ctl2"):
            assert f"cluster-{node}-packages" in names, f"{node}'s work is not in the state"
        drill_record.written = len(names)

        lab("heal", VICTIM)
        start = time.monotonic()
        second = stack.up(STACK_AA_FILE)
        drill_record.failover_s = time.monotonic() - start  # here: the converging up
        assert "create" in second.summary and "delete" not in second.summary, second.summary
        third = stack.up(STACK_AA_FILE)
        assert set(third.summary) == {"same"}, third.summary
        drill_record.found = third.summary["same"]
        wait_healthy()
    finally:
        lab("heal", VICTIM, check=False)
        lab("reset")
