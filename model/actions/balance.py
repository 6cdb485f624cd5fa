"""pcpu_balance_workfn(): the balance work's steps (chunk destruction, map
extension from 4f996e234dad on, partial depopulation from f183324133ea on,
page population)."""

from __future__ import annotations

from typing import Any, Callable

from percpu_mc.model.actions.common import Action, Choices, Events, KernelBase, Step, at_pc
from percpu_mc.model.geometry import (
    empty_pages,
    first_n_bits,
    first_run,
    fully_free,
    need_to_extend,
)
from percpu_mc.model.ops import Ops, Val, select, store
from percpu_mc.model.state import BalancePc, Isolated, State, full, ite_state, upd
from percpu_mc.model.vocabulary import BALANCE_WORK, Kind


class PcpuBalanceWork(KernelBase):
    """The steps of pcpu_balance_workfn(), one work item."""

    def balance_done(self, x: Ops, s: State) -> State:
        """mutex_unlock(&pcpu_alloc_mutex); the work function returns."""
        return upd(self.release_mutex(s), balance_pc=int(BalancePc.IDLE))

    def end_of_run(self, x: Ops, s: State) -> State:
        """After phase 2: f183324133ea adds pcpu_balance_free(true)."""
        if self.sw.partial_depopulation:
            return upd(s, balance_pc=int(BalancePc.FINAL_COLLECT))
        return self.balance_done(x, s)

    def after_phase1(self, x: Ops, s: State) -> State:
        """Where the balance work goes once to_free is empty."""
        if self.sw.map_extension == "balance-list":
            return upd(s, balance_pc=int(BalancePc.EXT_PICK))
        return self.phase2(x, s)

    def phase2(self, x: Ops, s: State) -> State:
        if self.sw.partial_depopulation:
            return upd(s, balance_pc=int(BalancePc.RECLAIM))
        return self.populate_phase(x, s)

    def populate_phase(self, x: Ops, s: State) -> State:
        if self.sw.balance_work == "free-and-populate":
            return upd(s, balance_pc=int(BalancePc.RETRY_POP))
        return self.balance_done(x, s)

    def balance_actions(self) -> list[Action]:
        p, g, sw = self.p, self.g, self.sw
        ctx = BALANCE_WORK
        normal = self.normal_chunks()
        none: Events = Events()

        def at(pc: BalancePc, mutex: bool = False) -> Callable[[Ops, State], Any]:
            return at_pc(lambda s: s.balance_pc, pc, mutex)

        def pending(x: Ops, s: State) -> Any:
            return x.and_(s.balance_pending, x.eq(s.balance_pc, int(BalancePc.IDLE)))

        def start(x: Ops, s: State, ch: Choices) -> Step:
            # the system workqueue runs pcpu_balance_work
            return True, upd(s, balance_pending=False, balance_pc=int(BalancePc.MUTEX)), none

        def collect(x: Ops, s: State, ch: Choices) -> Step:
            # mutex_lock(&pcpu_alloc_mutex); pcpu_lock: every chunk of the free
            # slot but the list head (the `chunk` choice) goes to to_free
            free = self.free_slot(x, s)
            spare = ch["chunk"]
            valid = self.list_head(x, free, spare)
            s2 = self.take_mutex(s, self.bal)
            moved = {c: x.and_(f, x.not_(x.eq(spare, c))) for c, f in free.items()}
            if sw.balance_spares_free == 0:
                valid, moved = x.eq(spare, 0), free
            for c, mv in moved.items():
                s2 = upd(
                    s2,
                    to_free=store(x, s2.to_free, c, mv),
                    linked=store(x, s2.linked, c, x.and_(s2.linked[c], x.not_(mv))),
                )
                if sw.map_extension == "balance-list":
                    # 4f996e234dad: list_del_init(&chunk->map_extend_list)
                    s2 = upd(
                        s2,
                        map_extend_pending=store(
                            x,
                            s2.map_extend_pending,
                            c,
                            x.and_(s2.map_extend_pending[c], x.not_(mv)),
                        ),
                    )
            post = ite_state(
                x,
                x.or_(*moved.values()),
                upd(s2, balance_pc=int(BalancePc.DESTROY)),
                self.after_phase1(x, s2),
            )
            return valid, post, none

        def destroy_one(x: Ops, s: State, ch: Choices, then: State) -> Step:
            # pcpu_depopulate_chunk() per populated region, pcpu_lock:
            # pcpu_chunk_depopulated(); then pcpu_destroy_chunk() (pcpu_alloc_mutex)
            c = ch["chunk"]
            pop = select(x, s.populated, c)
            s2 = upd(
                s,
                nr_empty_pop_pages=s.nr_empty_pop_pages - x.popcount(pop, g.pages),
                populated=store(x, s.populated, c, 0),
                # vunmap of the chunk's area: the lazy purge flushes before reuse
                stale=store(x, s.stale, c, 0),
                live=store(x, s.live, c, False),
                to_free=store(x, s.to_free, c, False),
            )
            more = x.or_(*[s2.to_free[j] for j in normal])
            return select(x, s.to_free, c), ite_state(x, more, s2, then(x, s2)), none

        def destroy(x: Ops, s: State, ch: Choices) -> Step:
            return destroy_one(x, s, ch, self.after_phase1)

        def final_collect(x: Ops, s: State, ch: Choices) -> Step:
            # f183324133ea, pcpu_balance_free(true): every chunk of the free slot
            # but the list head (the `chunk` choice) that has no populated page
            free = self.free_slot(x, s)
            spare = ch["chunk"]
            valid = self.list_head(x, free, spare)
            moved = {
                c: x.and_(f, x.not_(x.eq(spare, c)), x.eq(s.populated[c], 0))
                for c, f in free.items()
            }
            s2 = s
            for c, mv in moved.items():
                s2 = upd(
                    s2,
                    to_free=store(x, s2.to_free, c, mv),
                    linked=store(x, s2.linked, c, x.and_(s2.linked[c], x.not_(mv))),
                )
            post = ite_state(
                x,
                x.or_(*moved.values()),
                upd(s2, balance_pc=int(BalancePc.FINAL_DESTROY)),
                self.balance_done(x, s2),
            )
            return valid, post, none

        def final_destroy(x: Ops, s: State, ch: Choices) -> Step:
            return destroy_one(x, s, ch, self.balance_done)

        def ext_pick(x: Ops, s: State, ch: Choices) -> Step:
            # 4f996e234dad: pcpu_lock: take a chunk off pcpu_map_extend_chunks,
            # new_alloc = pcpu_need_to_extend(chunk, false); list empty: go on
            c = ch["chunk"]
            listed = x.or_(*[s.map_extend_pending[j] for j in normal])
            valid = x.ite(listed, select(x, s.map_extend_pending, c), x.eq(c, 0))
            new = need_to_extend(x, g, s, c, False)
            taken = upd(
                s,
                map_extend_pending=store(x, s.map_extend_pending, c, False),
                balance_chunk=c,
                balance_new_alloc=new,
                balance_pc=x.ite(x.eq(new, 0), int(BalancePc.EXT_PICK), int(BalancePc.EXT)),
            )
            return valid, ite_state(x, listed, taken, self.phase2(x, s)), none

        def ext(x: Ops, s: State, ch: Choices) -> Step:
            # 4f996e234dad: pcpu_extend_area_map(chunk, new_alloc) (pcpu_alloc_mutex)
            grown = self.extend_area_map(
                x, s, s.balance_chunk, s.balance_new_alloc, x.eq(ch["fail"], 0)
            )
            return True, upd(grown, balance_pc=int(BalancePc.EXT_PICK)), none

        def retry_pop(x: Ops, s: State, ch: Choices) -> Step:
            # retry_pop: nr_to_pop = HIGH after an atomic failure (flag cleared,
            # "best effort"), else clamp(HIGH - pcpu_nr_empty_pop_pages, 0, HIGH); no
            # lock, or (v5.14) pcpu_lock held from here to the pick
            high = p.empty_pop_pages_high
            want = high - s.nr_empty_pop_pages
            clamped = x.ite(x.lt(want, 0), 0, x.ite(x.lt(high, want), high, want))
            nr = x.ite(s.pcpu_atomic_alloc_failed, high, clamped)
            s2 = upd(
                s,
                nr_to_pop=nr,
                pcpu_atomic_alloc_failed=False,
                balance_slot=(g.page_slot + sw.populate_slot_offset) * self.slot_scale(),
                balance_pc=int(BalancePc.PICK),
            )
            return True, ite_state(x, x.eq(nr, 0), self.end_of_run(x, s2), s2), none

        def pick(x: Ops, s: State, ch: Choices) -> Step:
            # for (slot = pcpu_size_to_slot(PAGE_SIZE); ...): pcpu_lock: the first
            # chunk of the slot with unpopulated pages; none left: create one
            c = ch["chunk"]
            slots = self.scan_keys(x, s)
            cands = {
                j: x.and_(
                    self.scanned(x, s, j),
                    x.not_(x.eq(s.populated[j], full(g.pages))),
                    x.le(s.balance_slot, slots[j]),
                )
                for j in normal
            }
            found, valid = self.pick(x, cands, slots, c)
            chosen = upd(
                s,
                balance_chunk=c,
                balance_pc=int(BalancePc.POP),
                balance_slot=select(x, [slots.get(j, 0) for j in range(p.nr_chunks)], c) + 1,
            )
            return (
                valid,
                ite_state(x, found, chosen, upd(s, balance_pc=int(BalancePc.CREATE))),
                none,
            )

        def populate(x: Ops, s: State, ch: Choices) -> Step:
            # pcpu_populate_chunk(chunk, rs, rs + min(re - rs, nr_to_pop)); pcpu_lock:
            # pcpu_chunk_populated().  Failure: nr_to_pop = 0
            c = s.balance_chunk
            pop = select(x, s.populated, c)
            bits = first_n_bits(x, g, first_run(x, g, x.bnot(pop, g.pages)), s.nr_to_pop)
            nr = x.popcount(bits, g.pages)
            fail = x.eq(ch["fail"], 1)
            # pcpu_update_empty_pages(): not counted for a sidelined chunk
            counted = x.eq(select(x, s.isolated, c), int(Isolated.NO))
            ok = upd(
                s,
                populated=store(x, s.populated, c, pop | bits),
                nr_empty_pop_pages=s.nr_empty_pop_pages + x.ite(counted, nr, 0),
                nr_to_pop=s.nr_to_pop - nr,
            )
            s2 = ite_state(x, fail, upd(s, nr_to_pop=0), ok)
            more = x.not_(x.eq(select(x, s2.populated, c), full(g.pages)))
            post = ite_state(
                x,
                x.eq(s2.nr_to_pop, 0),
                self.end_of_run(x, s2),
                ite_state(x, more, s2, upd(s2, balance_pc=int(BalancePc.PICK))),
            )
            return True, post, Events(env_fail=fail)

        def reclaim_finish(x: Ops, s: State) -> State:
            # pcpu_lock: if (reintegrate || chunk->free_bytes == pcpu_unit_size)
            # pcpu_reintegrate_chunk(chunk) (its empty pages count again), else
            # list_move_tail() to pcpu_sidelined_slot; then the next chunk
            c = s.balance_chunk
            back = x.or_(s.reclaim_reintegrate, fully_free(x, select(x, s.alloc_map, c)))
            return upd(
                s,
                isolated=store(
                    x, s.isolated, c, x.ite(back, int(Isolated.NO), int(Isolated.SIDELINED))
                ),
                nr_empty_pop_pages=s.nr_empty_pop_pages
                + x.ite(back, self.chunk_nr_empty_pop_pages(x, s, c), 0),
                balance_pc=int(BalancePc.RECLAIM),
            )

        def reclaim_scan(x: Ops, s: State) -> State:
            # pcpu_lock: for (i = reclaim_page; i >= 0; i--): break if the chunk
            # has no empty populated page; reintegrate = true and break below
            # HIGH; else find the highest run of empty populated pages at or
            # below i, to depopulate with pcpu_lock dropped.  Loop done: flush
            # (if anything was freed), then reintegrate or sideline
            c = s.balance_chunk
            amap, pop = select(x, s.alloc_map, c), select(x, s.populated, c)
            active = x.le(0, s.reclaim_page)
            no_empty = x.eq(self.chunk_nr_empty_pop_pages(x, s, c), 0)
            low = x.lt(s.nr_empty_pop_pages, p.empty_pop_pages_high)
            below = x.from_bits([x.le(k, s.reclaim_page) for k in range(g.pages)])
            q = empty_pages(x, g, amap) & pop & below
            run: Val = 0
            start: Val = 0
            in_run: Any = False
            done: Any = False
            for k in reversed(range(g.pages)):
                qk = x.bit(q, k)
                done = x.or_(done, x.and_(in_run, x.not_(qk)))
                take = x.and_(x.not_(done), qk)
                in_run = x.or_(in_run, take)
                run = run | x.ite(take, 1 << k, 0)
                start = x.ite(take, k, start)
            depop = x.and_(active, x.not_(no_empty), x.not_(low), x.not_(x.eq(run, 0)))
            ended = upd(
                s,
                reclaim_reintegrate=x.or_(
                    s.reclaim_reintegrate, x.and_(active, x.not_(no_empty), low)
                ),
                reclaim_page=-1,
            )
            flush = upd(ended, balance_pc=int(BalancePc.RECLAIM_FLUSH))
            if not sw.reclaim_tlb_flush:
                # f183324133ea: no flush; the unmapped pages' TLB entries stay
                flush = reclaim_finish(x, upd(ended, reclaim_freed=0))
            chunk_done = ite_state(x, x.eq(s.reclaim_freed, 0), reclaim_finish(x, ended), flush)
            to_depop = upd(
                s, reclaim_run=run, reclaim_page=start - 2, balance_pc=int(BalancePc.RECLAIM_DEPOP)
            )
            return ite_state(x, depop, to_depop, chunk_done)

        def reclaim(x: Ops, s: State, ch: Choices) -> Step:
            # f183324133ea, pcpu_reclaim_populated() (pcpu_lock): the next chunk
            # on pcpu_to_depopulate_slot, scanned from its last page down.
            # None left: pcpu_balance_populated()
            c = ch["chunk"]
            listed = x.or_(*[x.eq(s.isolated[j], int(Isolated.TO_DEPOPULATE)) for j in normal])
            valid = x.ite(
                listed, x.eq(select(x, s.isolated, c), int(Isolated.TO_DEPOPULATE)), x.eq(c, 0)
            )
            first = upd(
                s,
                balance_chunk=c,
                reclaim_page=g.pages - 1,
                reclaim_run=0,
                reclaim_freed=0,
                reclaim_reintegrate=False,
            )
            return (
                valid,
                ite_state(x, listed, reclaim_scan(x, first), self.populate_phase(x, s)),
                none,
            )

        def reclaim_depopulate(x: Ops, s: State, ch: Choices) -> Step:
            # spin_unlock; pcpu_depopulate_chunk(chunk, i + 1, end + 1)
            # (pcpu_alloc_mutex); spin_lock; pcpu_chunk_depopulated(): the chunk is
            # isolated, the counter stays; the scan goes on under pcpu_lock
            c = s.balance_chunk
            pop = select(x, s.populated, c)
            s2 = upd(
                s,
                populated=store(x, s.populated, c, pop & x.bnot(s.reclaim_run, g.pages)),
                stale=store(x, s.stale, c, select(x, s.stale, c) | s.reclaim_run),
                reclaim_freed=s.reclaim_freed | s.reclaim_run,
                reclaim_run=0,
            )
            return True, reclaim_scan(x, s2), none

        def reclaim_flush(x: Ops, s: State, ch: Choices) -> Step:
            # spin_unlock; pcpu_post_unmap_tlb_flush(chunk, freed_page_start,
            # freed_page_end); spin_lock; reintegrate or sideline
            c = s.balance_chunk
            flushed = upd(s, reclaim_freed=0, stale=store(x, s.stale, c, 0))
            return True, reclaim_finish(x, flushed), none

        def create(x: Ops, s: State, ch: Choices) -> Step:
            # ran out of chunks to populate: pcpu_create_chunk(); pcpu_lock:
            # relocate; goto retry_pop.  Failure: mutex_unlock and return
            ok, made = self.new_chunk(x, s, ch["fail"])
            post = ite_state(
                x, ok, upd(made, balance_pc=int(BalancePc.RETRY_POP)), self.end_of_run(x, s)
            )
            return True, post, Events(env_fail=x.not_(ok))

        acts = [
            Action(
                name="pcpu_balance_workfn",
                context=ctx,
                kernel="workqueue: pcpu_balance_work starts",
                choices=(),
                at=pending,
                fn=start,
                kind=Kind.BALANCE_START,
            ),
            Action(
                name="pcpu_balance_workfn: collect",
                context=ctx,
                kernel="mutex_lock(&pcpu_alloc_mutex); pcpu_lock: free chunks but the first to to_free",
                choices=("chunk",),
                at=at(BalancePc.MUTEX, mutex=True),
                fn=collect,
                kind=Kind.BALANCE_COLLECT,
            ),
            Action(
                name="pcpu_destroy_chunk",
                context=ctx,
                kernel="phase 1: pcpu_depopulate_chunk(), pcpu_chunk_depopulated(), pcpu_destroy_chunk()",
                choices=("chunk",),
                at=at(BalancePc.DESTROY),
                fn=destroy,
                kind=Kind.BALANCE_DESTROY,
            ),
        ]
        if sw.map_extension == "balance-list":
            acts += [
                Action(
                    name="pcpu_balance_workfn: map extend pick",
                    context=ctx,
                    kernel="pcpu_lock: list_del_init() off pcpu_map_extend_chunks, pcpu_need_to_extend()",
                    choices=("chunk",),
                    at=at(BalancePc.EXT_PICK),
                    fn=ext_pick,
                    kind=Kind.BALANCE_MAP_EXTEND_PICK,
                ),
                Action(
                    name="pcpu_extend_area_map",
                    context=ctx,
                    kernel="pcpu_balance_workfn() -> pcpu_extend_area_map() (pcpu_alloc_mutex)",
                    choices=("fail",),
                    at=at(BalancePc.EXT),
                    fn=ext,
                    kind=Kind.BALANCE_MAP_EXTEND,
                ),
            ]
        if sw.partial_depopulation:
            acts += [
                Action(
                    name="pcpu_balance_free(true): collect",
                    context=ctx,
                    kernel="f183324133ea: pcpu_lock: free chunks with no populated page, but the "
                    "first, to to_free",
                    choices=("chunk",),
                    at=at(BalancePc.FINAL_COLLECT),
                    fn=final_collect,
                    kind=Kind.BALANCE_FREE_EMPTY,
                ),
                Action(
                    name="pcpu_destroy_chunk",
                    context=ctx,
                    kernel="pcpu_balance_free(true): pcpu_destroy_chunk()",
                    choices=("chunk",),
                    at=at(BalancePc.FINAL_DESTROY),
                    fn=final_destroy,
                    kind=Kind.BALANCE_FREE_EMPTY_DESTROY,
                ),
            ]
            acts += [
                Action(
                    name="pcpu_reclaim_populated",
                    context=ctx,
                    kernel="f183324133ea: pcpu_lock: the next chunk on pcpu_to_depopulate_slot, "
                    "scanned down to its first run of empty populated pages",
                    choices=("chunk",),
                    at=at(BalancePc.RECLAIM),
                    fn=reclaim,
                    kind=Kind.BALANCE_RECLAIM,
                ),
                Action(
                    name="pcpu_reclaim_populated: depopulate",
                    context=ctx,
                    kernel="pcpu_depopulate_chunk() (pcpu_alloc_mutex); pcpu_lock: "
                    "pcpu_chunk_depopulated(), the scan goes on",
                    choices=(),
                    at=at(BalancePc.RECLAIM_DEPOP),
                    fn=reclaim_depopulate,
                    kind=Kind.BALANCE_RECLAIM_DEPOPULATE,
                ),
            ]
            if sw.reclaim_tlb_flush:
                acts.append(
                    Action(
                        name="pcpu_reclaim_populated: flush",
                        context=ctx,
                        kernel="pcpu_post_unmap_tlb_flush() (pcpu_alloc_mutex); pcpu_lock: "
                        "pcpu_reintegrate_chunk() or list_move_tail() to pcpu_sidelined_slot",
                        choices=(),
                        at=at(BalancePc.RECLAIM_FLUSH),
                        fn=reclaim_flush,
                        kind=Kind.BALANCE_RECLAIM_FLUSH,
                    )
                )
        if sw.balance_work == "free-and-populate":
            acts += [
                Action(
                    name="pcpu_balance_workfn: retry_pop",
                    context=ctx,
                    kernel="retry_pop: nr_to_pop from pcpu_atomic_alloc_failed or the counter "
                    + ("(pcpu_lock held)" if sw.balance_lock == "held" else "(no lock)"),
                    choices=(),
                    at=at(BalancePc.RETRY_POP),
                    fn=retry_pop,
                    kind=Kind.BALANCE_RETRY_POP,
                ),
                Action(
                    name="pcpu_balance_workfn: pick chunk",
                    context=ctx,
                    kernel="pcpu_lock: first chunk with unpopulated pages from the PAGE_SIZE slot up",
                    choices=("chunk",),
                    at=at(BalancePc.PICK),
                    fn=pick,
                    kind=Kind.BALANCE_PICK,
                ),
                Action(
                    name="pcpu_populate_chunk",
                    context=ctx,
                    kernel="phase 2: pcpu_populate_chunk() (pcpu_alloc_mutex); "
                    "pcpu_lock: pcpu_chunk_populated()",
                    choices=("fail",),
                    at=at(BalancePc.POP),
                    fn=populate,
                    kind=Kind.BALANCE_POPULATE,
                ),
                Action(
                    name="pcpu_create_chunk",
                    context=ctx,
                    kernel="phase 2: pcpu_create_chunk(); pcpu_lock: pcpu_chunk_relocate()",
                    choices=("fail",),
                    at=at(BalancePc.CREATE),
                    fn=create,
                    kind=Kind.BALANCE_CREATE,
                ),
            ]
        return acts
