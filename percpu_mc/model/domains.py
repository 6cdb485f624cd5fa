"""The domain of every state field: which group it belongs to (one per chunk
struct, per allocating context, per live allocation, or global), what its
values name (a chunk struct, the owner of pcpu_alloc_mutex, or a plain
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

from percpu_mc.model.params import MAX_MAP_ALLOC, Params
from percpu_mc.model.state import AllocPc, BalancePc, Geometry, Isolated, State


class Group(Enum):
    GLOBAL = "global"
    CHUNK = "chunk"      # indexed by chunk struct
    CONTEXT = "context"  # indexed by allocating context
    LIVE = "live"        # indexed by context * live_per_context + i


class Names(Enum):
    """What a field's value refers to (relabelled when a symmetry permutes it)."""
    QUANTITY = "quantity"
    CHUNK = "chunk"      # a chunk struct index
    OWNER = "owner"      # MUTEX_FREE, alloc_owner(ctx) or balance_owner(p)


@dataclass(frozen=True)
class Domain:
    group: Group
    names: Names
    lo: int
    hi: int

    @property
    def bits(self) -> int:
        return max(1, (self.hi - self.lo).bit_length())


def domains(p: Params, depth: int) -> dict[str, Domain]:
    """Every field of `State`, in declaration order.  The counter's range is
    what `depth` steps can reach: the true count is at most every page of
    every chunk, and one step moves it by at most that much (a lost update
    or a variant's miscount)."""
    g = Geometry(p)
    pages_total = p.nr_chunks * p.unit_pages
    counter = pages_total * (depth + 2)
    size, align = max(p.sizes), max(p.aligns)
    chunk = (0, p.nr_chunks - 1)
    q, c = Names.QUANTITY, Names.CHUNK
    b = (0, 1)
    table: dict[str, tuple[Group, Names, tuple[int, int]]] = {
        "live": (Group.CHUNK, q, b), "linked": (Group.CHUNK, q, b),
        "to_free": (Group.CHUNK, q, b),
        "alloc_map": (Group.CHUNK, q, (0, (1 << g.cells) - 1)),
        "bound_map": (Group.CHUNK, q, (0, (1 << g.cells) - 1)),
        "populated": (Group.CHUNK, q, (0, (1 << g.pages) - 1)),
        "map_alloc": (Group.CHUNK, q, (0, MAX_MAP_ALLOC)),
        "map_extend_pending": (Group.CHUNK, q, b), "ext_running": (Group.CHUNK, q, b),
        "ext_new_alloc": (Group.CHUNK, q, (0, MAX_MAP_ALLOC)),
        "isolated": (Group.CHUNK, q, (0, max(Isolated))),
        "nr_empty_pop_pages": (Group.GLOBAL, q, (-counter, counter)),
        "pcpu_async_enabled": (Group.GLOBAL, q, b),
        "pcpu_atomic_alloc_failed": (Group.GLOBAL, q, b),
        "alloc_mutex": (Group.GLOBAL, Names.OWNER, (0, p.nr_contexts + 1)),
        "balance_pending": (Group.GLOBAL, q, b),
        "balance_pc": (Group.GLOBAL, q, (0, max(BalancePc))),
        "balance_chunk": (Group.GLOBAL, c, chunk),
        "nr_to_pop": (Group.GLOBAL, q, (-counter - p.empty_pop_pages_high,
                                        counter + p.empty_pop_pages_high)),
        "balance_slot": (Group.GLOBAL, q, (0, g.free_slot + 2)),
        "balance_new_alloc": (Group.GLOBAL, q, (0, MAX_MAP_ALLOC)),
        "pc": (Group.CONTEXT, q, (0, max(AllocPc))),
        "req_size": (Group.CONTEXT, q, (0, size)), "req_align": (Group.CONTEXT, q, (0, align)),
        "req_atomic": (Group.CONTEXT, q, b), "req_reserved": (Group.CONTEXT, q, b),
        "chunk": (Group.CONTEXT, c, chunk), "off": (Group.CONTEXT, q, (0, g.cells)),
        "occ": (Group.CONTEXT, q, (0, g.pages)),
        "new_alloc": (Group.CONTEXT, q, (0, MAX_MAP_ALLOC)),
        "counter_reg": (Group.CONTEXT, q, (-counter, counter)),
        "live_valid": (Group.LIVE, q, b), "live_chunk": (Group.LIVE, c, chunk),
        "live_off": (Group.LIVE, q, (0, g.cells)), "live_size": (Group.LIVE, q, (0, size)),
        "ap_phase": (Group.GLOBAL, q, (0, 3)), "ap_size": (Group.GLOBAL, q, (0, size)),
        "ap_align": (Group.GLOBAL, q, (0, align)),
        "run_clean": (Group.GLOBAL, q, b), "refill_check": (Group.GLOBAL, q, b),
        "after_collect": (Group.GLOBAL, q, b),
    }
    names = [f.name for f in fields(State)]
    missing = set(names) ^ set(table)
    if missing:
        raise ValueError(f"state fields without a domain (or domains without a field): {missing}")
    return {n: Domain(table[n][0], table[n][1], *table[n][2]) for n in names}


def group_size(p: Params, group: Group) -> int | None:
    return {Group.GLOBAL: None, Group.CHUNK: p.nr_chunks, Group.CONTEXT: p.nr_contexts,
            Group.LIVE: p.nr_contexts * p.live_per_context}[group]
