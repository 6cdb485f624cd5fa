"""A model state's parts in kernel terms, as text: the chunk roles, the
allocation map, the populated pages, the owner of pcpu_alloc_mutex. The
counterexamples (checker/report/) and the level-2 replay's notes
(checker/logs/) both print them."""

from percpu_mc.model.control import MUTEX_FREE, AllocPc, BalancePc, owning_context
from percpu_mc.model.params import Params
from percpu_mc.model.state import State
from percpu_mc.model.vocabulary import BALANCE_WORK, alloc_context


def chunk_role(p: Params, c: int) -> str:
    if c == 0:
        return "first chunk"
    if p.has_reserved and c == p.reserved_index:
        return "reserved chunk"
    return f"chunk {c}"


def cell_map(p: Params, amap: int, bmap: int) -> str:
    """One character per cell, pages separated by '|': '.' free, 'a' in use,
    'A' the first cell of an in-use area."""
    out = []
    for pg in range(p.unit_pages):
        cells = ""
        for i in range(pg * p.cells_per_page, (pg + 1) * p.cells_per_page):
            cells += ("A" if bmap >> i & 1 else "a") if amap >> i & 1 else "."
        out.append(cells)
    return "|".join(out)


def page_map(p: Params, populated: int) -> str:
    """One character per page: 'P' populated, '-' not."""
    return "".join("P" if populated >> pg & 1 else "-" for pg in range(p.unit_pages))


def owner_name(p: Params, owner: int) -> str:
    if owner == MUTEX_FREE:
        return "free"
    i = owning_context(p, owner)
    return BALANCE_WORK.label if i is None else alloc_context(i).label


def describe(p: Params, s: State) -> str:
    """A model state in one line of kernel terms."""
    parts = [
        f"pcpu_nr_empty_pop_pages={s.nr_empty_pop_pages}",
        f"pcpu_alloc_mutex {owner_name(p, s.alloc_mutex)}",
    ]
    for i, pc in enumerate(s.pc):
        if pc != AllocPc.IDLE:
            parts.append(f"{alloc_context(i)} at {AllocPc(pc).name}")
    if s.balance_pc != BalancePc.IDLE or s.balance_pending:
        parts.append(
            f"balance work {BalancePc(s.balance_pc).name}"
            + (" (pending)" if s.balance_pending else "")
        )
    for c in range(p.nr_chunks):
        if s.live[c]:
            parts.append(
                f"{chunk_role(p, c)} [{cell_map(p, s.alloc_map[c], s.bound_map[c])}] "
                f"populated {page_map(p, s.populated[c])}"
            )
    return ", ".join(parts)
