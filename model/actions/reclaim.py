"""f183324133ea's partial depopulation: pcpu_reclaim_populated() and
pcpu_balance_free(true), run by pcpu_balance_workfn().

PcpuReclaim is a base of PcpuBalanceWork: its steps go on to the work's own
phases (populate_phase, balance_done) and share its destroy_one, which
PcpuBalanceWork defines."""

from __future__ import annotations

from typing import Any

from percpu_mc.model.actions.common import Action, Choices, Events, KernelBase, Step
from percpu_mc.model.control import BalancePc, Isolated
from percpu_mc.model.geometry import empty_pages, fully_free
from percpu_mc.model.ops import Ops, Val, select, store
from percpu_mc.model.state import State, ite_state, upd
from percpu_mc.model.vocabulary import BALANCE_WORK, Kind


class PcpuReclaim(KernelBase):
    """The partial-depopulation steps of pcpu_balance_workfn()."""

    def balance_free_collect(self, x: Ops, s: State, ch: Choices) -> Step:
        # f183324133ea, pcpu_balance_free(true): every chunk of the free slot
        # but the list head (the `chunk` choice) that has no populated page
        free = self.free_slot(x, s)
        spare = ch["chunk"]
        valid = self.list_head(x, free, spare)
        moved = {
            c: x.and_(f, x.not_(x.eq(spare, c)), x.eq(s.populated[c], 0)) for c, f in free.items()
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
        return valid, post, Events()

    def balance_free_destroy(self, x: Ops, s: State, ch: Choices) -> Step:
        return self.destroy_one(x, s, ch, self.balance_done)

    def reclaim_finish(self, x: Ops, s: State) -> State:
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

    def reclaim_scan(self, x: Ops, s: State) -> State:
        # pcpu_lock: for (i = reclaim_page; i >= 0; i--): break if the chunk
        # has no empty populated page; reintegrate = true and break below
        # HIGH; else find the highest run of empty populated pages at or
        # below i, to depopulate with pcpu_lock dropped.  Loop done: flush
        # (if anything was freed), then reintegrate or sideline
        c = s.balance_chunk
        amap, pop = select(x, s.alloc_map, c), select(x, s.populated, c)
        active = x.le(0, s.reclaim_page)
        no_empty = x.eq(self.chunk_nr_empty_pop_pages(x, s, c), 0)
        low = x.lt(s.nr_empty_pop_pages, self.p.empty_pop_pages_high)
        below = x.from_bits([x.le(k, s.reclaim_page) for k in range(self.g.pages)])
        q = empty_pages(x, self.g, amap) & pop & below
        run: Val = 0
        start: Val = 0
        in_run: Any = False
        done: Any = False
        for k in reversed(range(self.g.pages)):
            qk = x.bit(q, k)
            done = x.or_(done, x.and_(in_run, x.not_(qk)))
            take = x.and_(x.not_(done), qk)
            in_run = x.or_(in_run, take)
            run = run | x.ite(take, 1 << k, 0)
            start = x.ite(take, k, start)
        depop = x.and_(active, x.not_(no_empty), x.not_(low), x.not_(x.eq(run, 0)))
        ended = upd(
            s,
            reclaim_reintegrate=x.or_(s.reclaim_reintegrate, x.and_(active, x.not_(no_empty), low)),
            reclaim_page=-1,
        )
        flush = upd(ended, balance_pc=int(BalancePc.RECLAIM_FLUSH))
        if not self.sw.reclaim_tlb_flush:
            # f183324133ea: no flush; the unmapped pages' TLB entries stay
            flush = self.reclaim_finish(x, upd(ended, reclaim_freed=0))
        chunk_done = ite_state(x, x.eq(s.reclaim_freed, 0), self.reclaim_finish(x, ended), flush)
        to_depop = upd(
            s, reclaim_run=run, reclaim_page=start - 2, balance_pc=int(BalancePc.RECLAIM_DEPOP)
        )
        return ite_state(x, depop, to_depop, chunk_done)

    def reclaim_populated(self, x: Ops, s: State, ch: Choices) -> Step:
        # f183324133ea, pcpu_reclaim_populated() (pcpu_lock): the next chunk
        # on pcpu_to_depopulate_slot, scanned from its last page down.
        # None left: pcpu_balance_populated()
        c = ch["chunk"]
        listed = x.or_(
            *[x.eq(s.isolated[j], int(Isolated.TO_DEPOPULATE)) for j in self.normal_chunks()]
        )
        valid = x.ite(
            listed, x.eq(select(x, s.isolated, c), int(Isolated.TO_DEPOPULATE)), x.eq(c, 0)
        )
        first = upd(
            s,
            balance_chunk=c,
            reclaim_page=self.g.pages - 1,
            reclaim_run=0,
            reclaim_freed=0,
            reclaim_reintegrate=False,
        )
        return (
            valid,
            ite_state(x, listed, self.reclaim_scan(x, first), self.populate_phase(x, s)),
            Events(),
        )

    def reclaim_depopulate(self, x: Ops, s: State, ch: Choices) -> Step:
        # spin_unlock; pcpu_depopulate_chunk(chunk, i + 1, end + 1)
        # (pcpu_alloc_mutex); spin_lock; pcpu_chunk_depopulated(): the chunk is
        # isolated, the counter stays; the scan goes on under pcpu_lock
        c = s.balance_chunk
        pop = select(x, s.populated, c)
        s2 = upd(
            s,
            populated=store(x, s.populated, c, pop & x.bnot(s.reclaim_run, self.g.pages)),
            stale=store(x, s.stale, c, select(x, s.stale, c) | s.reclaim_run),
            reclaim_freed=s.reclaim_freed | s.reclaim_run,
            reclaim_run=0,
        )
        return True, self.reclaim_scan(x, s2), Events()

    def reclaim_flush(self, x: Ops, s: State, ch: Choices) -> Step:
        # spin_unlock; pcpu_post_unmap_tlb_flush(chunk, freed_page_start,
        # freed_page_end); spin_lock; reintegrate or sideline
        c = s.balance_chunk
        flushed = upd(s, reclaim_freed=0, stale=store(x, s.stale, c, 0))
        return True, self.reclaim_finish(x, flushed), Events()

    def reclaim_actions(self) -> list[Action]:
        """f183324133ea: pcpu_balance_free(true) and pcpu_reclaim_populated()."""
        acts = [
            Action(
                name="pcpu_balance_free(true): collect",
                context=BALANCE_WORK,
                kernel="f183324133ea: pcpu_lock: free chunks with no populated page, but the "
                "first, to to_free",
                choices=("chunk",),
                at=self.balance_at(BalancePc.FINAL_COLLECT),
                fn=self.balance_free_collect,
                kind=Kind.BALANCE_FREE_EMPTY,
            ),
            Action(
                name="pcpu_destroy_chunk",
                context=BALANCE_WORK,
                kernel="pcpu_balance_free(true): pcpu_destroy_chunk()",
                choices=("chunk",),
                at=self.balance_at(BalancePc.FINAL_DESTROY),
                fn=self.balance_free_destroy,
                kind=Kind.BALANCE_FREE_EMPTY_DESTROY,
            ),
        ]
        acts += [
            Action(
                name="pcpu_reclaim_populated",
                context=BALANCE_WORK,
                kernel="f183324133ea: pcpu_lock: the next chunk on pcpu_to_depopulate_slot, "
                "scanned down to its first run of empty populated pages",
                choices=("chunk",),
                at=self.balance_at(BalancePc.RECLAIM),
                fn=self.reclaim_populated,
                kind=Kind.BALANCE_RECLAIM,
            ),
            Action(
                name="pcpu_reclaim_populated: depopulate",
                context=BALANCE_WORK,
                kernel="pcpu_depopulate_chunk() (pcpu_alloc_mutex); pcpu_lock: "
                "pcpu_chunk_depopulated(), the scan goes on",
                choices=(),
                at=self.balance_at(BalancePc.RECLAIM_DEPOP),
                fn=self.reclaim_depopulate,
                kind=Kind.BALANCE_RECLAIM_DEPOPULATE,
            ),
        ]
        if self.sw.reclaim_tlb_flush:
            acts.append(
                Action(
                    name="pcpu_reclaim_populated: flush",
                    context=BALANCE_WORK,
                    kernel="pcpu_post_unmap_tlb_flush() (pcpu_alloc_mutex); pcpu_lock: "
                    "pcpu_reintegrate_chunk() or list_move_tail() to pcpu_sidelined_slot",
                    choices=(),
                    at=self.balance_at(BalancePc.RECLAIM_FLUSH),
                    fn=self.reclaim_flush,
                    kind=Kind.BALANCE_RECLAIM_FLUSH,
                )
            )
        return acts
