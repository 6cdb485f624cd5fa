"""The reduction of the search: one representative state per class of
states with the same futures (dead locals and history variables zeroed)."""

from __future__ import annotations

from typing import Any

from percpu_mc.model.ops import Ops
from percpu_mc.model.state import (
    BOOL_FIELDS,
    CALL_SPANNING,
    HISTORY_FIELDS,
    PER_CONTEXT,
    PER_LIVE,
    State,
    upd,
    zero,
)

# Dead locals: a field of code that is not running, or of an allocation no
# longer held, is overwritten before it is next read, so two states that
# differ only in dead locals have the same futures.  Each is live while the
# field named here (same index) is non-zero: its program counter is not
# IDLE, the allocation is held, the map extension work is running.  Two
# history variables are dead the same way (model/machine.py, observe): the
# watched request's size, alignment and chunk type while nothing is watched (ap_phase
# 0: arming overwrites them), and whether the balance run is clean while
# none runs (starting one overwrites it).
BALANCE_LOCALS = (
    "balance_chunk",
    "nr_to_pop",
    "balance_slot",
    "balance_new_alloc",
    "reclaim_page",
    "reclaim_run",
    "reclaim_freed",
    "reclaim_reintegrate",
    "balance_type",
)
LIVE_WHILE = {
    **dict.fromkeys(BALANCE_LOCALS, "balance_pc"),
    **dict.fromkeys((f for f in PER_CONTEXT[1:] if f not in CALL_SPANNING), "pc"),
    **dict.fromkeys(PER_LIVE[1:], "live_valid"),
    "ext_new_alloc": "ext_running",
    "ap_size": "ap_phase",
    "ap_align": "ap_phase",
    "ap_memcg": "ap_phase",
    "run_clean": "balance_pc",
}


def dead(x: Ops, s: State, name: str, j: int | None) -> Any:
    """Whether field `name` (element j) is a dead local in state s."""
    guard = LIVE_WHILE.get(name)
    if guard is None:
        return False
    g = getattr(s, guard) if j is None else getattr(s, guard)[j]
    return x.not_(g) if guard in BOOL_FIELDS else x.eq(g, 0)


def forget_dead(s: State) -> State:
    """s with its dead locals zeroed (concrete states)."""
    changes: dict[str, Any] = {}
    for name, guard in LIVE_WHILE.items():
        v, g, z = getattr(s, name), getattr(s, guard), zero(name)
        if not isinstance(v, tuple):
            if v != z and not g:
                changes[name] = z
        elif any(e != z and not g[j] for j, e in enumerate(v)):
            changes[name] = tuple(e if g[j] else z for j, e in enumerate(v))
    return upd(s, **changes) if changes else s


def canonical(s: State) -> State:
    """The kernel state of s, one representative per class of states with
    the same futures: the history variables and the dead locals zeroed."""
    return forget_dead(upd(s, **{f: zero(f) for f in HISTORY_FIELDS}))
