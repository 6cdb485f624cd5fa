"""What every family of actions shares: the Action record, the events a step
reports, and the helpers more than one kernel function uses (scheduling the
balance work and map extension, the slot scan's candidate test, chunk
creation, the pcpu_slot[] lists, pcpu_alloc_mutex)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from percpu_mc.model.control import (
    BALANCE_LOCKED_PCS,
    MUTEX_FREE,
    AllocPc,
    BalancePc,
    Isolated,
    balance_owner,
)
from percpu_mc.model.geometry import (
    Geometry,
    area_pages,
    chunk_slot,
    fit_offsets,
    fully_free,
    map_used,
    max_run_fits,
    need_to_extend,
    nr_empty_pop,
)
from percpu_mc.model.ops import Ops, Val, select, store
from percpu_mc.model.params import PCPU_ATOMIC_MAP_MARGIN_LOW, PCPU_DFL_MAP_ALLOC, Params
from percpu_mc.model.state import State, upd
from percpu_mc.model.vocabulary import Context, Kind, Role


@dataclass(frozen=True)
class Events:
    """What a step did that the history variables observe."""

    alloc_step: bool = False  # a step of pcpu_alloc() (not free_percpu)
    atomic_fail: Any = False  # an atomic, non-reserved pcpu_alloc() failed
    env_fail: Any = False  # chunk creation or page population failed


Step = tuple[Any, State, Events]
Choices = dict[str, Val]


@dataclass(frozen=True)
class Action:
    """One step.  `at` is the first conjunct of its guard: where the code runs
    (a program counter) and the lock it waits for; `fn` returns the rest of
    the guard (which choices are the kernel's), the successor and its events."""

    name: str  # kernel function and step, for display
    context: Context  # who runs it
    kernel: str  # the code it models and the lock it holds
    choices: tuple[str, ...]
    at: Callable[[Ops, State], Any]
    fn: Callable[[Ops, State, Choices], Step]
    kind: Kind  # what step it is, and what it may print in a log
    atomic: bool = False  # Kind.ALLOC: a GFP_ATOMIC request

    @property
    def ctx(self) -> int | None:
        """The allocating context that runs it (None: not one)."""
        return self.context.index if self.context.role is Role.ALLOC else None


def at_pc(where: Callable[[State], Val], pc: int, mutex: bool) -> Callable[[Ops, State], Any]:
    """An action's `at`: the context is at `pc` (and, if `mutex`, the
    pcpu_alloc_mutex it is about to take is free)."""
    if mutex:
        return lambda x, s: x.and_(x.eq(where(s), int(pc)), x.eq(s.alloc_mutex, MUTEX_FREE))
    return lambda x, s: x.eq(where(s), int(pc))


class KernelBase:
    """Parameters and switches of one spec, and the helpers the action
    families share."""

    def __init__(self, p: Params):
        self.p = p
        self.g = Geometry(p)
        self.sw = p.switches
        self.bal = balance_owner(p)

    # --- helpers shared by actions -----------------------------------------

    def domains(self) -> dict[str, tuple[int, ...]]:
        p = self.p
        return {
            "size": p.sizes,
            "align": p.aligns,
            "reserved": (0, 1) if p.has_reserved else (0,),
            "chunk": tuple(range(p.nr_chunks)),
            "fail": (0, 1),
            "live": tuple(range(p.live_per_context)),
            "demote": (0, 1),
            # 3c7be18ac9a0: a root or a memcg-aware (__GFP_ACCOUNT) request
            "memcg": (0, 1) if self.sw.chunk_types == 2 else (0,),
        }

    def alloc_at(self, i: int, pc: AllocPc, mutex: bool = False) -> Callable[[Ops, State], Any]:
        """Allocating context i is at `pc` (and, if `mutex`, pcpu_alloc_mutex is free)."""
        return at_pc(lambda s: s.pc[i], pc, mutex)

    def balance_at(self, pc: BalancePc, mutex: bool = False) -> Callable[[Ops, State], Any]:
        """The balance work is at `pc` (and, if `mutex`, pcpu_alloc_mutex is free)."""
        return at_pc(lambda s: s.balance_pc, pc, mutex)

    def normal_chunks(self) -> range | list[int]:
        """Chunk structs that may sit in pcpu_slot[] (all but the reserved)."""
        p = self.p
        return [c for c in range(p.nr_chunks) if not (p.has_reserved and c == p.reserved_index)]

    def schedule_balance(self, x: Ops, s: State, cond: Any) -> State:
        """pcpu_schedule_balance_work(): schedule_work() once async is enabled."""
        gate = s.pcpu_async_enabled if self.sw.async_gate else True
        return upd(s, balance_pending=x.or_(s.balance_pending, x.and_(cond, gate)))

    def schedule_map_extend(self, x: Ops, s: State, c: Val, cond: Any) -> State:
        """pcpu_need_to_extend(atomic): ask for the map to grow asynchronously."""
        g = self.g
        if self.sw.area_map == "bitmap":
            return s
        low = x.lt(
            select(x, s.map_alloc, c),
            map_used(x, g, select(x, s.alloc_map, c), select(x, s.bound_map, c))
            + PCPU_ATOMIC_MAP_MARGIN_LOW,
        )
        want = x.and_(cond, low)
        old = select(x, s.map_extend_pending, c)
        if self.sw.map_extension == "work-item":
            # 1a4d76076cda: schedule_work(&chunk->map_extend_work), gated
            gate = s.pcpu_async_enabled if self.sw.async_gate else True
            return upd(
                s,
                map_extend_pending=store(
                    x, s.map_extend_pending, c, x.or_(old, x.and_(want, gate))
                ),
            )
        # 4f996e234dad: list_add_tail(&chunk->map_extend_list) and schedule balance
        s = upd(s, map_extend_pending=store(x, s.map_extend_pending, c, x.or_(old, want)))
        return self.schedule_balance(x, s, x.and_(want, x.not_(old)))

    def of_type(self, x: Ops, s: State, c: int, memcg: Any) -> Any:
        """Chunk c is of the chunk type `memcg` names (3c7be18ac9a0: it sits
        on pcpu_chunk_list(type)); always, with one chunk type."""
        if self.sw.chunk_types == 1:
            return True
        return x.ite(memcg, s.memcg[c], x.not_(s.memcg[c]))

    def listed(self, x: Ops, s: State, c: int, memcg: Any) -> Any:
        """On a list a scan for a request of type `memcg` visits."""
        return x.and_(self.scanned(x, s, c), self.of_type(x, s, c, memcg))

    def candidate(
        self, x: Ops, s: State, c: int, size: Val, align: Val, atomic: bool, memcg: Any = False
    ) -> Any:
        """Chunk c is where pcpu_alloc()'s slot scan, of pcpu_chunk_list(type)
        for a request of type `memcg`, stops: it extends c's map (non-atomic)
        or allocates from it."""
        g = self.g
        amap, pop = s.alloc_map[c], s.populated[c]
        usable = x.and_(self.listed(x, s, c, memcg), max_run_fits(x, g, amap, size))
        pop_only = atomic and self.sw.atomic_fit_pop_only
        fits = x.not_(x.eq(fit_offsets(x, g, amap, pop, size, align, pop_only), 0))
        if atomic:
            return x.and_(usable, x.eq(need_to_extend(x, g, s, c, True), 0), fits)
        return x.and_(usable, x.or_(fits, x.not_(x.eq(need_to_extend(x, g, s, c, False), 0))))

    def pick(self, x: Ops, cands: dict[int, Any], slots: dict[int, Val], c: Val) -> tuple[Any, Any]:
        """(some candidate exists, c is a candidate in the lowest such slot);
        when none exists c must be 0, so the choice adds no duplicate runs."""
        any_c = x.or_(*cands.values())
        ok = x.or_(
            *[
                x.and_(
                    x.eq(c, i),
                    cand,
                    *[x.or_(x.not_(cands[j]), x.le(slots[i], slots[j])) for j in cands],
                )
                for i, cand in cands.items()
            ]
        )
        return any_c, x.ite(any_c, ok, x.eq(c, 0))

    def set_pc(self, x: Ops, s: State, i: int, pc: Val) -> State:
        return upd(s, pc=store(x, s.pc, i, pc))

    def take_mutex(self, s: State, owner: int) -> State:
        return upd(s, alloc_mutex=owner)

    def release_mutex(self, s: State) -> State:
        return upd(s, alloc_mutex=MUTEX_FREE)

    def new_chunk(
        self, x: Ops, s: State, fail: Val, relocate: bool = True, memcg: Any = False
    ) -> tuple[Any, State]:
        """pcpu_create_chunk(type) + pcpu_chunk_relocate(chunk, -1) (unless not
        `relocate`): (created, state); the lowest free struct is used.  A
        fresh chunk: empty map of PCPU_DFL_MAP_ALLOC entries, nothing
        populated, of type `memcg` (3c7be18ac9a0).  With every struct in use
        it fails."""
        free_idx = list(range(self.p.first_dynamic, self.p.nr_chunks))
        idx: Val = 0
        for c in reversed(free_idx):
            idx = x.ite(x.not_(s.live[c]), c, idx)
        ok = x.and_(x.eq(fail, 0), x.or_(*[x.not_(s.live[c]) for c in free_idx]))
        made = s
        for c in free_idx:
            hit = x.and_(ok, x.eq(idx, c))
            made = upd(
                made,
                live=store(x, made.live, c, x.or_(made.live[c], hit)),
                linked=store(
                    x, made.linked, c, x.or_(made.linked[c], hit) if relocate else made.linked[c]
                ),
                alloc_map=store(x, made.alloc_map, c, x.ite(hit, 0, made.alloc_map[c])),
                bound_map=store(x, made.bound_map, c, x.ite(hit, 0, made.bound_map[c])),
                populated=store(x, made.populated, c, x.ite(hit, 0, made.populated[c])),
                map_alloc=store(
                    x, made.map_alloc, c, x.ite(hit, PCPU_DFL_MAP_ALLOC, made.map_alloc[c])
                ),
            )
            if self.sw.chunk_types == 2:
                made = upd(made, memcg=store(x, made.memcg, c, x.ite(hit, memcg, made.memcg[c])))
        return ok, made

    def scanned(self, x: Ops, s: State, c: int) -> Any:
        """On a list pcpu_alloc() and pcpu_balance_populated() scan: the
        pcpu_slot[] lists and, from f183324133ea, pcpu_sidelined_slot (which
        sits below pcpu_free_slot, the last list they scan)."""
        # a chunk demoted to pcpu_slot[0] sits below every scan's first slot
        shown = x.not_(s.demoted[c]) if self.sw.slot_fail_demotion else True
        if not self.sw.partial_depopulation:
            return x.and_(self.in_slots(x, s, c), shown)
        return x.and_(
            s.live[c], s.linked[c], x.not_(x.eq(s.isolated[c], int(Isolated.TO_DEPOPULATE))), shown
        )

    def scan_keys(self, x: Ops, s: State) -> dict[int, Val]:
        """The order the slot scans visit the lists in, per scanned chunk: its
        slot, or, from f183324133ea, twice its slot with a sidelined chunk at
        2 * pcpu_free_slot - 1 (pcpu_sidelined_slot = pcpu_free_slot - 1: after
        every partly used slot, before the free one)."""
        g = self.g
        slots = {j: chunk_slot(x, g, s.alloc_map[j]) for j in self.normal_chunks()}
        if not self.sw.partial_depopulation:
            return slots
        return {
            j: x.ite(
                x.eq(s.isolated[j], int(Isolated.SIDELINED)), 2 * g.free_slot - 1, 2 * slots[j]
            )
            for j in self.normal_chunks()
        }

    def slot_scale(self) -> int:
        """What scan_keys() multiplies a slot by."""
        return 2 if self.sw.partial_depopulation else 1

    def chunk_nr_empty_pop_pages(self, x: Ops, s: State, c: Val) -> Val:
        """chunk->nr_empty_pop_pages (v5.2 on): its empty populated pages less
        the unpopulated ones allocations in flight have taken."""
        g = self.g
        amap, pop = select(x, s.alloc_map, c), select(x, s.populated, c)
        return nr_empty_pop(x, g, amap, pop) - self.taken_unpopulated(x, s, c)

    def balance_holds_lock(self, x: Ops, s: State) -> Any:
        """v5.14: the balance work is between two steps of one pcpu_lock section."""
        return x.or_(*[x.eq(s.balance_pc, int(pc)) for pc in BALANCE_LOCKED_PCS])

    def in_slots(self, x: Ops, s: State, c: int) -> Any:
        """On a pcpu_slot[] list pcpu_alloc() and the balance work scan (an
        isolated chunk sits on a list past pcpu_free_slot)."""
        return x.and_(s.live[c], s.linked[c], x.eq(s.isolated[c], int(Isolated.NO)))

    def free_slot(self, x: Ops, s: State, memcg: Any = False) -> dict[int, Any]:
        """Which chunks sit on pcpu_slot[pcpu_nr_slots - 1] of
        pcpu_chunk_list(type) for the type `memcg` names: the fully free ones."""
        return {
            c: x.and_(
                self.in_slots(x, s, c), self.of_type(x, s, c, memcg), fully_free(x, s.alloc_map[c])
            )
            for c in self.normal_chunks()
        }

    def free_slot_empty(self, x: Ops, s: State, memcg: Any = False) -> Any:
        """list_empty(&pcpu_slot[pcpu_nr_slots - 1]) of the type's lists."""
        return x.not_(x.or_(*self.free_slot(x, s, memcg).values()))

    def update_empty_pages(self, x: Ops, s: State, c: Val, nr: Val) -> State:
        """pcpu_update_empty_pages(chunk, nr)'s global part: the counter
        moves by nr; from 0760fa3d8f7f, pcpu_nr_empty_pop_pages[pcpu_chunk_type(chunk)]."""
        if not self.sw.counter_per_chunk_type:
            return upd(s, nr_empty_pop_pages=s.nr_empty_pop_pages + nr)
        mc = select(x, s.memcg, c)
        return upd(
            s,
            nr_empty_pop_pages=s.nr_empty_pop_pages + x.ite(mc, 0, nr),
            nr_empty_pop_pages_memcg=s.nr_empty_pop_pages_memcg + x.ite(mc, nr, 0),
        )

    def type_nr_empty_pop_pages(self, x: Ops, s: State, memcg: Any) -> Val:
        """What the LOW check and retry_pop read for the type `memcg` names:
        pcpu_nr_empty_pop_pages, from 0760fa3d8f7f pcpu_nr_empty_pop_pages[type]."""
        if not self.sw.counter_per_chunk_type:
            return s.nr_empty_pop_pages
        return x.ite(memcg, s.nr_empty_pop_pages_memcg, s.nr_empty_pop_pages)

    def list_head(self, x: Ops, free: dict[int, Any], head: Val) -> Any:
        """`head` is the first chunk of the free slot, the one the balance work
        spares (any of them: list order is not modelled); 0 when the slot is empty."""
        return x.ite(
            x.or_(*free.values()),
            x.or_(*[x.and_(x.eq(head, c), f) for c, f in free.items()]),
            x.eq(head, 0),
        )

    def extend_area_map(self, x: Ops, s: State, c: Val, new_alloc: Val, ok: Any) -> State:
        """pcpu_extend_area_map(chunk, new_alloc), pcpu_lock: the map grows to
        new_alloc entries unless the allocation failed (`ok` false) or a
        concurrent extension already grew it that far."""
        old = select(x, s.map_alloc, c)
        grown = x.and_(ok, x.lt(old, new_alloc))
        return upd(s, map_alloc=store(x, s.map_alloc, c, x.ite(grown, new_alloc, old)))

    def taken_unpopulated(self, x: Ops, s: State, c: Val) -> Val:
        """With every-page accounting (b239f7daf553), the unpopulated pages of
        chunk c that allocations in progress have taken off the counter ahead
        of their population: chunk->nr_empty_pop_pages is the chunk's empty
        populated pages less these."""
        if self.sw.occ_pages_subtracted != "with-area-every-page":
            return 0
        g = self.g
        out: Val = 0
        for i in range(self.p.nr_contexts):
            busy = x.and_(
                x.eq(s.chunk[i], c),
                x.or_(x.eq(s.pc[i], int(AllocPc.POP_MUTEX)), x.eq(s.pc[i], int(AllocPc.POPULATE))),
            )
            unpop = area_pages(x, g, s.off[i], s.req_size[i]) & x.bnot(
                select(x, s.populated, c), g.pages
            )
            out = out + x.ite(busy, x.popcount(unpop, g.pages), 0)
        return out

    def reserved_or_none(self) -> int:
        return self.p.reserved_index if self.p.has_reserved else -1
