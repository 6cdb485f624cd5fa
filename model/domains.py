"""The domain of every state field: its group (model/state.py's field
groups: per chunk struct, per allocating context, per live allocation, or
global), what its values name (a chunk struct, the owner of pcpu_alloc_mutex, or a plain
quantity), and the range its values stay in.

The compiled explicit engine packs each field into the bits its range needs
and permutes the groups for symmetry reduction, so both read this table,
never a hand-written width.  A range that a run leaves is reported by the
packing as an error (never wrapped), so a wrong bound here costs a clear
failure, not a missed state.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import Enum

from percpu_mc.model.control import AllocPc, BalancePc, Isolated, Outer
from percpu_mc.model.geometry import Geometry
from percpu_mc.model.params import MAX_MAP_ALLOC, PCPU_DFL_MAP_ALLOC, Params
from percpu_mc.model.state import PER_CHUNK, PER_CONTEXT, PER_LIVE, State


class Group(Enum):
    GLOBAL = "global"
    CHUNK = "chunk"  # indexed by chunk struct
    CONTEXT = "context"  # indexed by allocating context
    LIVE = "live"  # indexed by context * live_per_context + i


class Names(Enum):
    """What a field's value refers to (relabelled when a symmetry permutes it)."""

    QUANTITY = "quantity"
    CHUNK = "chunk"  # a chunk struct index
    OWNER = "owner"  # MUTEX_FREE, alloc_owner(ctx) or balance_owner(p)


@dataclass(frozen=True)
class Domain:
    group: Group
    names: Names
    lo: int
    hi: int
    values: tuple[int, ...] = ()  # when set: the only values, stored as their index

    @property
    def bits(self) -> int:
        span = len(self.values) - 1 if self.values else self.hi - self.lo
        return max(1, span.bit_length())


# An area map's size: 0 (none asked for) or a power-of-two multiple of
# PCPU_DFL_MAP_ALLOC up to MAX_MAP_ALLOC (pcpu_need_to_extend()).
MAP_SIZES = (0,) + tuple(
    PCPU_DFL_MAP_ALLOC << k for k in range((MAX_MAP_ALLOC // PCPU_DFL_MAP_ALLOC).bit_length())
)


def domains(p: Params, depth: int) -> dict[str, Domain]:
    """Every field of `State`, in declaration order.  The counter's true
    value is at most every page of every chunk; a variant that miscounts
    moves it by at most that much a step, so `depth` steps stay within
    pages * (depth + 2).  The range is that, capped at four times the pages
    (and a margin): a counter drifting further stops the search, naming the
    field, rather than widening every stored state."""
    g = Geometry(p)
    pages_total = p.nr_chunks * p.unit_pages
    counter = min(pages_total * (depth + 2), 4 * pages_total + 8)
    size, align = max(p.sizes), max(p.aligns)
    chunk = (0, p.nr_chunks - 1)
    q, c = Names.QUANTITY, Names.CHUNK
    b = (0, 1)
    table: dict[str, tuple[Names, tuple[int, ...]]] = {
        "live": (q, b),
        "linked": (q, b),
        "to_free": (q, b),
        "alloc_map": (q, (0, (1 << g.cells) - 1)),
        "bound_map": (q, (0, (1 << g.cells) - 1)),
        "populated": (q, (0, (1 << g.pages) - 1)),
        "map_alloc": (q, MAP_SIZES),
        "map_extend_pending": (q, b),
        "ext_running": (q, b),
        "ext_new_alloc": (q, MAP_SIZES),
        "isolated": (q, (0, max(Isolated))),
        "stale": (q, (0, (1 << g.pages) - 1)),
        "demoted": (q, b),
        "memcg": (q, b),
        "nr_empty_pop_pages": (q, (-counter, counter)),
        "nr_empty_pop_pages_memcg": (q, (-counter, counter)),
        "pcpu_async_enabled": (q, b),
        "pcpu_atomic_alloc_failed": (q, b),
        "alloc_mutex": (Names.OWNER, (0, p.nr_contexts + 1)),
        "balance_pending": (q, b),
        "balance_pc": (q, (0, max(BalancePc))),
        "balance_chunk": (c, chunk),
        "nr_to_pop": (q, (-counter - p.empty_pop_pages_high, counter + p.empty_pop_pages_high)),
        "balance_slot": (q, (0, 2 * g.free_slot + 2)),
        "balance_new_alloc": (q, MAP_SIZES),
        "reclaim_page": (q, (-2, p.unit_pages - 1)),
        "reclaim_run": (q, (0, (1 << g.pages) - 1)),
        "reclaim_freed": (q, (0, (1 << g.pages) - 1)),
        "reclaim_reintegrate": (q, b),
        "balance_fs_reclaim": (q, b),
        "balance_type": (q, b),
        "pc": (q, (0, max(AllocPc))),
        "req_size": (q, (0, size)),
        "req_align": (q, (0, align)),
        "req_atomic": (q, b),
        "req_reserved": (q, b),
        "req_memcg": (q, b),
        # an area's offset lies within its chunk (invariants.py, the domains lemma)
        "chunk": (c, chunk),
        "off": (q, (0, g.cells - 1)),
        "occ": (q, (0, g.pages)),
        "new_alloc": (q, MAP_SIZES),
        "counter_reg": (q, (-counter, counter)),
        "outer": (q, (0, max(Outer))),
        "wakeup": (q, b),
        "fs_reclaim": (q, b),
        "live_valid": (q, b),
        "live_chunk": (c, chunk),
        "live_off": (q, (0, g.cells - 1)),
        "live_size": (q, (0, size)),
        "ap_phase": (q, (0, 3)),
        "ap_size": (q, (0, size)),
        "ap_align": (q, (0, align)),
        "ap_memcg": (q, b),
        "run_clean": (q, b),
        "refill_check": (q, b),
        "after_collect": (q, b),
    }
    names = [f.name for f in fields(State)]
    missing = set(names) ^ set(table)
    if missing:
        raise ValueError(f"state fields without a domain (or domains without a field): {missing}")
    out = {}
    for n in names:
        kind, span = table[n]
        if span is MAP_SIZES:
            out[n] = Domain(group(n), kind, 0, MAX_MAP_ALLOC, MAP_SIZES)
        else:
            out[n] = Domain(group(n), kind, *span)
    return out


def group(name: str) -> Group:
    """The field group of model/state.py a field belongs to."""
    return (
        Group.CHUNK
        if name in PER_CHUNK
        else Group.CONTEXT
        if name in PER_CONTEXT
        else Group.LIVE
        if name in PER_LIVE
        else Group.GLOBAL
    )
