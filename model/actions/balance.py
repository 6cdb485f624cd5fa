"""pcpu_balance_workfn(): the balance work's steps (chunk destruction, map
extension from 4f996e234dad on, page population; partial depopulation from
f183324133ea on: reclaim.py)."""

from __future__ import annotations

from typing import Any

from percpu_mc.model.actions.common import Action, Choices, Events, Step
from percpu_mc.model.actions.reclaim import PcpuReclaim
from percpu_mc.model.control import BalancePc, Isolated
from percpu_mc.model.geometry import first_n_bits, first_run, need_to_extend
from percpu_mc.model.ops import Ops, select, store
from percpu_mc.model.state import State, full, ite_state, upd
from percpu_mc.model.vocabulary import BALANCE_WORK, Kind


class PcpuBalanceWork(PcpuReclaim):
    """The steps of pcpu_balance_workfn(), one work item."""

    def balance_done(self, x: Ops, s: State) -> State:
        """mutex_unlock(&pcpu_alloc_mutex); the work function returns, or
        (3c7be18ac9a0) its loop goes on from the root type to
        __pcpu_balance_workfn(PCPU_CHUNK_MEMCG), which takes the mutex again."""
        done = upd(self.release_mutex(s), balance_pc=int(BalancePc.IDLE))
        if self.sw.chunk_types == 1:
            return done
        memcg = upd(self.release_mutex(s), balance_pc=int(BalancePc.MUTEX), balance_type=1)
        return ite_state(x, x.eq(s.balance_type, 0), memcg, upd(done, balance_type=0))

    def balance_memcg(self, x: Ops, s: State) -> Any:
        """The balance work's loop is at the memcg type (3c7be18ac9a0)."""
        return x.eq(s.balance_type, 1)

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

    def balance_pending(self, x: Ops, s: State) -> Any:
        """pcpu_balance_work is queued and not running."""
        return x.and_(s.balance_pending, x.eq(s.balance_pc, int(BalancePc.IDLE)))

    def balance_start(self, x: Ops, s: State, ch: Choices) -> Step:
        # the system workqueue runs pcpu_balance_work
        return True, upd(s, balance_pending=False, balance_pc=int(BalancePc.MUTEX)), Events()

    def balance_collect(self, x: Ops, s: State, ch: Choices) -> Step:
        # mutex_lock(&pcpu_alloc_mutex); pcpu_lock: every chunk of the free
        # slot (of the loop's type's lists) but the list head (the `chunk`
        # choice) goes to to_free
        free = self.free_slot(x, s, self.balance_memcg(x, s))
        spare = ch["chunk"]
        valid = self.list_head(x, free, spare)
        s2 = self.take_mutex(s, self.bal)
        moved = {c: x.and_(f, x.not_(x.eq(spare, c))) for c, f in free.items()}
        if self.sw.balance_spares_free == 0:
            valid, moved = x.eq(spare, 0), free
        for c, mv in moved.items():
            s2 = upd(
                s2,
                to_free=store(x, s2.to_free, c, mv),
                linked=store(x, s2.linked, c, x.and_(s2.linked[c], x.not_(mv))),
            )
            if self.sw.map_extension == "balance-list":
                # 4f996e234dad: list_del_init(&chunk->map_extend_list)
                s2 = upd(
                    s2,
                    map_extend_pending=store(
                        x, s2.map_extend_pending, c, x.and_(s2.map_extend_pending[c], x.not_(mv))
                    ),
                )
        post = ite_state(
            x,
            x.or_(*moved.values()),
            upd(s2, balance_pc=int(BalancePc.DESTROY)),
            self.after_phase1(x, s2),
        )
        return valid, post, Events()

    def destroy_one(self, x: Ops, s: State, ch: Choices, then: State) -> Step:
        # pcpu_depopulate_chunk() per populated region, pcpu_lock:
        # pcpu_chunk_depopulated(); then pcpu_destroy_chunk() (pcpu_alloc_mutex)
        c = ch["chunk"]
        pop = select(x, s.populated, c)
        s2 = upd(
            self.update_empty_pages(x, s, c, -x.popcount(pop, self.g.pages)),
            populated=store(x, s.populated, c, 0),
            # vunmap of the chunk's area: the lazy purge flushes before reuse
            stale=store(x, s.stale, c, 0),
            live=store(x, s.live, c, False),
            to_free=store(x, s.to_free, c, False),
        )
        more = x.or_(*[s2.to_free[j] for j in self.normal_chunks()])
        return select(x, s.to_free, c), ite_state(x, more, s2, then(x, s2)), Events()

    def balance_destroy(self, x: Ops, s: State, ch: Choices) -> Step:
        return self.destroy_one(x, s, ch, self.after_phase1)

    def map_extend_pick(self, x: Ops, s: State, ch: Choices) -> Step:
        # 4f996e234dad: pcpu_lock: take a chunk off pcpu_map_extend_chunks,
        # new_alloc = pcpu_need_to_extend(chunk, false); list empty: go on
        c = ch["chunk"]
        listed = x.or_(*[s.map_extend_pending[j] for j in self.normal_chunks()])
        valid = x.ite(listed, select(x, s.map_extend_pending, c), x.eq(c, 0))
        new = need_to_extend(x, self.g, s, c, False)
        taken = upd(
            s,
            map_extend_pending=store(x, s.map_extend_pending, c, False),
            balance_chunk=c,
            balance_new_alloc=new,
            balance_pc=x.ite(x.eq(new, 0), int(BalancePc.EXT_PICK), int(BalancePc.EXT)),
        )
        return valid, ite_state(x, listed, taken, self.phase2(x, s)), Events()

    def map_extend(self, x: Ops, s: State, ch: Choices) -> Step:
        # 4f996e234dad: pcpu_extend_area_map(chunk, new_alloc) (pcpu_alloc_mutex)
        grown = self.extend_area_map(
            x, s, s.balance_chunk, s.balance_new_alloc, x.eq(ch["fail"], 0)
        )
        return True, upd(grown, balance_pc=int(BalancePc.EXT_PICK)), Events()

    def retry_pop(self, x: Ops, s: State, ch: Choices) -> Step:
        # retry_pop: nr_to_pop = HIGH after an atomic failure (flag cleared,
        # "best effort"), else clamp(HIGH - pcpu_nr_empty_pop_pages, 0, HIGH); no
        # lock, or (v5.14) pcpu_lock held from here to the pick
        high = self.p.empty_pop_pages_high
        want = high - self.type_nr_empty_pop_pages(x, s, self.balance_memcg(x, s))
        clamped = x.ite(x.lt(want, 0), 0, x.ite(x.lt(high, want), high, want))
        nr = x.ite(s.pcpu_atomic_alloc_failed, high, clamped)
        s2 = upd(
            s,
            nr_to_pop=nr,
            pcpu_atomic_alloc_failed=False,
            balance_slot=(self.g.page_slot + self.sw.populate_slot_offset) * self.slot_scale(),
            balance_pc=int(BalancePc.PICK),
        )
        return True, ite_state(x, x.eq(nr, 0), self.end_of_run(x, s2), s2), Events()

    def balance_pick(self, x: Ops, s: State, ch: Choices) -> Step:
        # for (slot = pcpu_size_to_slot(PAGE_SIZE); ...): pcpu_lock: the first
        # chunk of the slot (of the loop's type's lists) with unpopulated
        # pages; none left: create one
        c = ch["chunk"]
        slots = self.scan_keys(x, s)
        cands = {
            j: x.and_(
                self.listed(x, s, j, self.balance_memcg(x, s)),
                x.not_(x.eq(s.populated[j], full(self.g.pages))),
                x.le(s.balance_slot, slots[j]),
            )
            for j in self.normal_chunks()
        }
        found, valid = self.pick(x, cands, slots, c)
        chosen = upd(
            s,
            balance_chunk=c,
            balance_pc=int(BalancePc.POP),
            balance_slot=select(x, [slots.get(j, 0) for j in range(self.p.nr_chunks)], c) + 1,
        )
        return (
            valid,
            ite_state(x, found, chosen, upd(s, balance_pc=int(BalancePc.CREATE))),
            Events(),
        )

    def balance_populate(self, x: Ops, s: State, ch: Choices) -> Step:
        # pcpu_populate_chunk(chunk, rs, rs + min(re - rs, nr_to_pop)); pcpu_lock:
        # pcpu_chunk_populated().  Failure: nr_to_pop = 0
        c = s.balance_chunk
        pop = select(x, s.populated, c)
        bits = first_n_bits(x, self.g, first_run(x, self.g, x.bnot(pop, self.g.pages)), s.nr_to_pop)
        nr = x.popcount(bits, self.g.pages)
        fail = x.eq(ch["fail"], 1)
        # pcpu_update_empty_pages(): not counted for a sidelined chunk
        counted = x.eq(select(x, s.isolated, c), int(Isolated.NO))
        ok = upd(
            self.update_empty_pages(x, s, c, x.ite(counted, nr, 0)),
            populated=store(x, s.populated, c, pop | bits),
            nr_to_pop=s.nr_to_pop - nr,
        )
        s2 = ite_state(x, fail, upd(s, nr_to_pop=0), ok)
        more = x.not_(x.eq(select(x, s2.populated, c), full(self.g.pages)))
        post = ite_state(
            x,
            x.eq(s2.nr_to_pop, 0),
            self.end_of_run(x, s2),
            ite_state(x, more, s2, upd(s2, balance_pc=int(BalancePc.PICK))),
        )
        return True, post, Events(env_fail=fail)

    def balance_create(self, x: Ops, s: State, ch: Choices) -> Step:
        # ran out of chunks to populate: pcpu_create_chunk(type); pcpu_lock:
        # relocate; goto retry_pop.  Failure: mutex_unlock and return
        ok, made = self.new_chunk(x, s, ch["fail"], memcg=self.balance_memcg(x, s))
        post = ite_state(
            x, ok, upd(made, balance_pc=int(BalancePc.RETRY_POP)), self.end_of_run(x, s)
        )
        return True, post, Events(env_fail=x.not_(ok))

    def balance_actions(self) -> list[Action]:
        acts = [
            Action(
                name="pcpu_balance_workfn",
                context=BALANCE_WORK,
                kernel="workqueue: pcpu_balance_work starts",
                choices=(),
                at=self.balance_pending,
                fn=self.balance_start,
                kind=Kind.BALANCE_START,
            ),
            Action(
                name="pcpu_balance_workfn: collect",
                context=BALANCE_WORK,
                kernel=(
                    "__pcpu_balance_workfn(type), root then memcg (3c7be18ac9a0): "
                    if self.sw.chunk_types == 2
                    else ""
                )
                + "mutex_lock(&pcpu_alloc_mutex); pcpu_lock: free chunks but the first to to_free",
                choices=("chunk",),
                at=self.balance_at(BalancePc.MUTEX, mutex=True),
                fn=self.balance_collect,
                kind=Kind.BALANCE_COLLECT,
            ),
            Action(
                name="pcpu_destroy_chunk",
                context=BALANCE_WORK,
                kernel="phase 1: pcpu_depopulate_chunk(), pcpu_chunk_depopulated(), pcpu_destroy_chunk()",
                choices=("chunk",),
                at=self.balance_at(BalancePc.DESTROY),
                fn=self.balance_destroy,
                kind=Kind.BALANCE_DESTROY,
            ),
        ]
        if self.sw.map_extension == "balance-list":
            acts += [
                Action(
                    name="pcpu_balance_workfn: map extend pick",
                    context=BALANCE_WORK,
                    kernel="pcpu_lock: list_del_init() off pcpu_map_extend_chunks, pcpu_need_to_extend()",
                    choices=("chunk",),
                    at=self.balance_at(BalancePc.EXT_PICK),
                    fn=self.map_extend_pick,
                    kind=Kind.BALANCE_MAP_EXTEND_PICK,
                ),
                Action(
                    name="pcpu_extend_area_map",
                    context=BALANCE_WORK,
                    kernel="pcpu_balance_workfn() -> pcpu_extend_area_map() (pcpu_alloc_mutex)",
                    choices=("fail",),
                    at=self.balance_at(BalancePc.EXT),
                    fn=self.map_extend,
                    kind=Kind.BALANCE_MAP_EXTEND,
                ),
            ]
        if self.sw.partial_depopulation:
            acts += self.reclaim_actions()
        if self.sw.balance_work == "free-and-populate":
            acts += [
                Action(
                    name="pcpu_balance_workfn: retry_pop",
                    context=BALANCE_WORK,
                    kernel="retry_pop: nr_to_pop from pcpu_atomic_alloc_failed or the counter "
                    + ("(pcpu_lock held)" if self.sw.balance_lock == "held" else "(no lock)"),
                    choices=(),
                    at=self.balance_at(BalancePc.RETRY_POP),
                    fn=self.retry_pop,
                    kind=Kind.BALANCE_RETRY_POP,
                ),
                Action(
                    name="pcpu_balance_workfn: pick chunk",
                    context=BALANCE_WORK,
                    kernel="pcpu_lock: first chunk with unpopulated pages from the PAGE_SIZE slot up",
                    choices=("chunk",),
                    at=self.balance_at(BalancePc.PICK),
                    fn=self.balance_pick,
                    kind=Kind.BALANCE_PICK,
                ),
                Action(
                    name="pcpu_populate_chunk",
                    context=BALANCE_WORK,
                    kernel="phase 2: pcpu_populate_chunk() (pcpu_alloc_mutex); "
                    "pcpu_lock: pcpu_chunk_populated()",
                    choices=("fail",),
                    at=self.balance_at(BalancePc.POP),
                    fn=self.balance_populate,
                    kind=Kind.BALANCE_POPULATE,
                ),
                Action(
                    name="pcpu_create_chunk",
                    context=BALANCE_WORK,
                    kernel="phase 2: pcpu_create_chunk(); pcpu_lock: pcpu_chunk_relocate()",
                    choices=("fail",),
                    at=self.balance_at(BalancePc.CREATE),
                    fn=self.balance_create,
                    kind=Kind.BALANCE_CREATE,
                ),
            ]
        return acts
