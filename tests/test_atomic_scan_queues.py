"""An atomic pcpu_alloc() calls pcpu_need_to_extend(chunk, true) on every
chunk its slot scan reaches with `size <= contig_hint` (v4.7 to v4.13:
4f996e234dad's pcpu_map_extend_chunks), and that call queues the chunk's map
extension and schedules the balance work when `map_alloc < map_used +
PCPU_ATOMIC_MAP_MARGIN_LOW`, before the scan skips the chunk for the margin
(`if (is_atomic) continue;`) or for the populated-only fit.  The chunk the
allocation ends in is not the only one queued."""

from __future__ import annotations

from dataclasses import replace

from percpu_mc.checker import specs
from percpu_mc.model.geometry import chunk_slot, need_to_extend
from percpu_mc.model.machine import Model
from percpu_mc.model.ops import Concrete
from percpu_mc.model.params import PCPU_DFL_MAP_ALLOC
from percpu_mc.model.state import State, upd

# v4.13's code on a chunk large enough for a map that needs the atomic margin:
# 4 pages of 4 cells.
PARAMS = replace(
    specs.load("v4.13").params,
    unit_pages=4,
    cells_per_page=4,
    first_chunk_static_cells=1,
    sizes=(1,),
)


def with_chunk_1(m: Model, alloc_map: int, bound_map: int, populated: int) -> State:
    """After percpu_enable_async(): the first chunk as at boot, chunk 1 live
    on pcpu_slot[] with a fresh 16-entry map and the given areas."""
    s = upd(m.init(), pcpu_async_enabled=True)
    return upd(
        s,
        live=(True, True, False),
        linked=(True, True, False),
        alloc_map=(s.alloc_map[0], alloc_map, 0),
        bound_map=(s.bound_map[0], bound_map, 0),
        populated=(s.populated[0], populated, 0),
        map_alloc=(s.map_alloc[0], PCPU_DFL_MAP_ALLOC, PCPU_DFL_MAP_ALLOC),
    )


def atomic_alloc(m: Model, s: State) -> list[State]:
    """The successors of s by context 0's atomic pcpu_alloc() of one cell."""
    return [
        t
        for ai, ch, t in m.successors(s)
        if m.actions[ai].name == "pcpu_alloc (atomic)" and m.actions[ai].ctx == 0
    ]


def test_a_chunk_skipped_for_the_margin_is_queued() -> None:
    """Chunk 1 holds 7 one-cell areas between 7 one-cell holes and one area
    at the end: 15 map entries, so a 16-entry map fails the atomic margin
    (16 < 15 + 3) and the scan skips it; it sits in a lower slot (7 free
    cells) than the first chunk (15 free cells), so the scan reaches it
    first.  The allocation ends in the first chunk, and chunk 1's extension
    is queued with the balance work scheduled."""
    m, x = Model(PARAMS), Concrete()
    used = sum(1 << c for c in range(0, 14, 2)) | (3 << 14)
    bound = sum(1 << c for c in range(0, 14, 2)) | (1 << 14)
    s = with_chunk_1(m, used, bound, 0b1111)
    g = m.kernel.g
    assert need_to_extend(x, g, s, 1, True) != 0  # the margin skip
    assert chunk_slot(x, g, s.alloc_map[1]) < chunk_slot(x, g, s.alloc_map[0])
    [t] = atomic_alloc(m, s)
    assert t.alloc_map[0] != s.alloc_map[0] and t.alloc_map[1] == s.alloc_map[1]
    assert t.map_extend_pending == (False, True, False)
    assert t.balance_pending


def test_a_chunk_skipped_for_the_populated_only_fit_is_queued() -> None:
    """Chunk 1's free cells all lie in its unpopulated pages: the atomic
    request cannot use them (pcpu_fit_in_area(pop_only)) and the scan goes
    on to the first chunk; chunk 1, reached first, is queued."""
    m = Model(PARAMS)
    used = 0b1111_1111_1111  # pages 0-2 in use, page 3 free and unpopulated
    s = with_chunk_1(m, used, 0b1, 0b0111)
    [t] = atomic_alloc(m, s)
    assert t.alloc_map[0] != s.alloc_map[0]
    assert t.map_extend_pending == (False, True, False)
    assert t.balance_pending


def test_a_chunk_in_a_higher_slot_is_not_reached() -> None:
    """The scan stops at the chunk it allocates from: a chunk in a higher
    slot (fully free: the last slot) is never reached, so nothing is queued
    for it (and the first chunk's static map needs nothing)."""
    m = Model(PARAMS)
    s = with_chunk_1(m, 0, 0, 0b1111)
    [t] = atomic_alloc(m, s)
    assert t.alloc_map[0] != s.alloc_map[0]
    assert t.map_extend_pending == (False, False, False)
