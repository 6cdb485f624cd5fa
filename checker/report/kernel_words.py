"""What a report says about a step in the kernel's words, from the step's
metadata (its `Kind`, its choices, the program counters it leaves behind),
never from an action's display name: the kernel function a step runs in
(for source links), the function whose failure a `fail` choice takes, and
where a context stands after a step."""

from __future__ import annotations

from percpu_mc.model.control import AllocPc, BalancePc
from percpu_mc.model.vocabulary import Kind

# The kernel function whose code each kind of step models (the enclosing
# one: a link to it shows the step's lines in context).
FUNCTION: dict[Kind, str] = {
    Kind.ALLOC: "pcpu_alloc",
    Kind.ALLOC_EXTEND: "pcpu_extend_area_map",
    Kind.ALLOC_RESTART: "pcpu_alloc",
    Kind.ALLOC_CREATE: "pcpu_create_chunk",
    Kind.ALLOC_POP_MUTEX: "pcpu_populate_chunk",
    Kind.ALLOC_POPULATE: "pcpu_populate_chunk",
    Kind.ALLOC_COUNTER: "pcpu_alloc",
    Kind.ALLOC_COUNTER_LOAD: "pcpu_alloc",
    Kind.ALLOC_COUNTER_STORE: "pcpu_alloc",
    Kind.FREE: "free_percpu",
    Kind.BALANCE_START: "pcpu_balance_workfn",
    Kind.BALANCE_COLLECT: "pcpu_balance_workfn",
    Kind.BALANCE_DESTROY: "pcpu_destroy_chunk",
    Kind.BALANCE_MAP_EXTEND_PICK: "pcpu_balance_workfn",
    Kind.BALANCE_MAP_EXTEND: "pcpu_extend_area_map",
    Kind.BALANCE_FREE_EMPTY: "pcpu_balance_free",
    Kind.BALANCE_FREE_EMPTY_DESTROY: "pcpu_destroy_chunk",
    Kind.BALANCE_RECLAIM: "pcpu_reclaim_populated",
    Kind.BALANCE_RECLAIM_DEPOPULATE: "pcpu_depopulate_chunk",
    Kind.BALANCE_RECLAIM_FLUSH: "pcpu_post_unmap_tlb_flush",
    Kind.BALANCE_RETRY_POP: "pcpu_balance_workfn",
    Kind.BALANCE_PICK: "pcpu_balance_workfn",
    Kind.BALANCE_POPULATE: "pcpu_populate_chunk",
    Kind.BALANCE_CREATE: "pcpu_create_chunk",
    Kind.MAP_EXTEND_START: "pcpu_map_extend_workfn",
    Kind.MAP_EXTEND: "pcpu_extend_area_map",
    Kind.ENABLE_ASYNC: "percpu_enable_async",
    Kind.OUTSIDE_LOCK: "pcpu_alloc",
    Kind.OUTSIDE_UNLOCK: "pcpu_alloc",
    Kind.WAKEUP: "pcpu_schedule_balance_work",
    Kind.FS_RECLAIM: "pcpu_alloc_mutex",
    Kind.FS_RECLAIM_DONE: "pcpu_alloc_mutex",
}

# The kernel call whose failure (memory pressure) a step's `fail` choice
# takes, and the path the caller then runs.
FAILURE: dict[Kind, str] = {
    Kind.ALLOC_EXTEND: "pcpu_extend_area_map() fails: pcpu_alloc() goes to fail",
    Kind.ALLOC_CREATE: "pcpu_create_chunk() fails: pcpu_alloc() goes to fail",
    Kind.ALLOC_POP_MUTEX: "pcpu_populate_chunk() fails: pcpu_free_area(), pcpu_alloc() "
    "goes to fail",
    Kind.ALLOC_POPULATE: "pcpu_populate_chunk() fails: pcpu_free_area(), pcpu_alloc() goes to fail",
    Kind.BALANCE_MAP_EXTEND: "pcpu_extend_area_map() fails: the chunk keeps its map",
    Kind.BALANCE_POPULATE: "pcpu_populate_chunk() fails: pcpu_balance_workfn stops populating",
    Kind.BALANCE_CREATE: "pcpu_create_chunk() fails: pcpu_balance_workfn stops populating",
    Kind.MAP_EXTEND: "pcpu_extend_area_map() fails: the chunk keeps its map",
}

# Where an allocating context stands after a step, by its program counter.
ALLOC_AT: dict[AllocPc, str] = {
    AllocPc.IDLE: "out of pcpu_alloc()",
    AllocPc.EXTEND: "about to extend the chunk's area map (pcpu_extend_area_map())",
    AllocPc.RESTART: "map extended, about to goto restart",
    AllocPc.CHUNK_MUTEX: "found no free area: waits for pcpu_alloc_mutex to create a chunk",
    AllocPc.CREATE: "holds pcpu_alloc_mutex, about to pcpu_create_chunk()",
    AllocPc.POP_MUTEX: "area_found: waits for pcpu_alloc_mutex to populate its pages",
    AllocPc.POPULATE: "holds pcpu_alloc_mutex, about to pcpu_populate_chunk()",
    AllocPc.COUNTER: "about to update pcpu_nr_empty_pop_pages",
    AllocPc.COUNTER_STORE: "has loaded pcpu_nr_empty_pop_pages, about to store it less occ_pages",
}

# Where pcpu_balance_workfn stands after a step, by its program counter.
BALANCE_AT: dict[BalancePc, str] = {
    BalancePc.IDLE: "pcpu_balance_workfn() returned",
    BalancePc.MUTEX: "pcpu_balance_workfn() runs: waits for pcpu_alloc_mutex",
    BalancePc.DESTROY: "about to destroy the chunks on to_free",
    BalancePc.EXT_PICK: "about to take a chunk off pcpu_map_extend_chunks",
    BalancePc.EXT: "about to extend the chunk's area map (pcpu_extend_area_map())",
    BalancePc.RETRY_POP: "about to compute nr_to_pop (retry_pop)",
    BalancePc.PICK: "about to pick a chunk with unpopulated pages",
    BalancePc.POP: "about to pcpu_populate_chunk() the picked chunk",
    BalancePc.CREATE: "no chunk left to populate: about to pcpu_create_chunk()",
    BalancePc.RECLAIM: "about to pcpu_reclaim_populated()",
    BalancePc.RECLAIM_DEPOP: "pcpu_reclaim_populated(): pcpu_lock dropped, about to "
    "pcpu_depopulate_chunk() a run of empty pages",
    BalancePc.RECLAIM_FLUSH: "pcpu_reclaim_populated(): pcpu_lock dropped, about to "
    "pcpu_post_unmap_tlb_flush()",
    BalancePc.FINAL_COLLECT: "about to pcpu_balance_free(true)",
    BalancePc.FINAL_DESTROY: "pcpu_balance_free(true): about to destroy the chunks on to_free",
}


def failure(kind: Kind, choices: dict[str, int]) -> str | None:
    """What failed in a step that took its failure path (None: nothing)."""
    return FAILURE[kind] if choices.get("fail") else None
