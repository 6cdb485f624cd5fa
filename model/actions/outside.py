"""The lock-order variants: locks from outside mm/percpu.c, modelled only as
far as a wait-for cycle through the allocator's locks needs
(Switches.outside_lock).  Everywhere else a pcpu_lock section is one step
(model/state.py); here three things hold a lock across steps:

* an allocating context may take the outside lock, make one pcpu_alloc()
  call under it and drop it (`outer`).  "sched": a BPF program run under
  the scheduler's rq->lock updates a per-cpu hash map, a GFP_ATOMIC
  pcpu_alloc() (198790d9a3ae's lockdep report: rq->lock ->
  htab->buckets[i].lock -> pcpu_lock).  "fs": btrfs holds its commit_root
  semaphore or a transaction handle in a memalloc_nofs_save() scope around
  a GFP_KERNEL percpu_counter_init() (28307d938fb2's report);
* a step that calls pcpu_schedule_balance_work() with pcpu_lock held
  (free_percpu() before 198790d9a3ae; pcpu_alloc()'s area_found LOW check
  since 6.13) ends in schedule_work(), whose __queue_work() takes pool->lock
  and whose wakeup takes pi_lock and rq->lock: with "sched" that wakeup is
  a step of its own (`wakeup`), pcpu_lock held until it is done.  A wakeup
  made with no allocator lock held cannot close a cycle through the
  allocator and stays part of its step;
* with "fs", a GFP_KERNEL allocation under pcpu_alloc_mutex
  (pcpu_create_chunk() or pcpu_populate_chunk(), by pcpu_alloc() or by the
  balance work) may enter direct reclaim, whose filesystem shrinkers wait
  for the filesystem's lock (`fs_reclaim`, `balance_fs_reclaim`).  A context
  in the NOFS scope does not recurse (the page allocator applies its scope),
  nor the balance work under memalloc_noio_save() (9a5b183941b5).

Every step of an allocating context or of the balance work past its start
contains a pcpu_lock section, so each waits while another context holds
pcpu_lock across steps (the wakeup); the outside contexts add only waits,
so the variants' other properties see a subset of the runs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from percpu_mc.model.actions.common import Action, Choices, Events, KernelBase, Step
from percpu_mc.model.control import AllocPc, BalancePc, Outer, alloc_owner
from percpu_mc.model.ops import Ops, store
from percpu_mc.model.state import State, upd
from percpu_mc.model.vocabulary import BALANCE_WORK, Context, Kind, Role, alloc_context

# The steps that end in pcpu_alloc()'s scan (restart:) and so, at 6.13's
# area_found, in its LOW check under pcpu_lock.
SCAN_KINDS = frozenset({Kind.ALLOC, Kind.ALLOC_CREATE, Kind.ALLOC_RESTART})
# Where the balance work holds pcpu_alloc_mutex and allocates with GFP_KERNEL next.
BALANCE_GFP_KERNEL_PCS = (BalancePc.CREATE, BalancePc.POP)
# The locks of the wait-for graph.
MUTEX, PCPU_LOCK, OUTSIDE = "pcpu_alloc_mutex", "pcpu_lock", "outside"


class OutsideLocks(KernelBase):
    """The outside contexts' steps, the waits they add to the allocator's
    steps, and the wait-for graph no-deadlock reads."""

    # --- who holds and who waits ----------------------------------------------

    def scoped_atomic(self) -> bool:
        """Whether the request made under the outside lock is atomic: a BPF
        program's GFP_ATOMIC; a NOFS-scoped GFP_KERNEL one only with
        28307d938fb2's current_gfp_context()."""
        return self.sw.outside_lock == "sched" or self.sw.nofs_scope_atomic

    def outside_free_for(self, x: Ops, s: State, i: int | None) -> Any:
        """No context other than i holds the outside lock."""
        return x.and_(*[x.eq(o, int(Outer.NONE)) for j, o in enumerate(s.outer) if j != i])

    def wakeup_holds_pcpu_lock(self, x: Ops, s: State, i: int) -> Any:
        """Context i is inside a pcpu_lock section, its wakeup next."""
        return s.wakeup[i] if self.sw.outside_lock == "sched" else False

    def pcpu_lock_free_for(self, x: Ops, s: State, i: int | None) -> Any:
        """No context other than i holds pcpu_lock across steps."""
        return x.and_(
            *[
                x.not_(self.wakeup_holds_pcpu_lock(x, s, j))
                for j in range(self.p.nr_contexts)
                if j != i
            ]
        )

    def holds(self, x: Ops, s: State, e: int) -> dict[str, Any]:
        """The locks entity e (a context, or nr_contexts: the balance work)
        holds across steps."""
        n = self.p.nr_contexts
        if e == n:
            held = self.balance_holds_lock(x, s) if self.sw.balance_lock == "held" else False
            return {MUTEX: x.eq(s.alloc_mutex, self.bal), PCPU_LOCK: held, OUTSIDE: False}
        return {
            MUTEX: x.eq(s.alloc_mutex, alloc_owner(e)),
            PCPU_LOCK: self.wakeup_holds_pcpu_lock(x, s, e),
            OUTSIDE: x.not_(x.eq(s.outer[e], int(Outer.NONE))),
        }

    def wants(self, x: Ops, s: State, e: int) -> dict[str, Any]:
        """The locks entity e's next step waits for (each is a wait only
        while another entity holds it)."""
        n = self.p.nr_contexts
        if e == n:
            running = x.not_(x.eq(s.balance_pc, int(BalancePc.IDLE)))
            reclaiming = s.balance_fs_reclaim
            return {
                MUTEX: x.eq(s.balance_pc, int(BalancePc.MUTEX)),
                PCPU_LOCK: x.and_(
                    running, x.not_(reclaiming), x.not_(self.holds(x, s, n)[PCPU_LOCK])
                ),
                OUTSIDE: reclaiming,
            }
        pc = s.pc[e]
        called = x.eq(s.outer[e], int(Outer.HELD))  # the call under the lock is next
        whole = self.sw.alloc_mutex == "whole-call"
        mutex_pcs = x.or_(x.eq(pc, int(AllocPc.CHUNK_MUTEX)), x.eq(pc, int(AllocPc.POP_MUTEX)))
        blocked_elsewhere = x.or_(s.fs_reclaim[e], s.wakeup[e])
        return {
            MUTEX: x.or_(mutex_pcs, called if whole and not self.scoped_atomic() else False),
            PCPU_LOCK: x.or_(
                x.and_(x.not_(x.eq(pc, int(AllocPc.IDLE))), x.not_(blocked_elsewhere)),
                called if self.scoped_atomic() or not whole else False,
            ),
            OUTSIDE: blocked_elsewhere,
        }

    def wait_for_cycle(self, x: Ops, s: State) -> Any:
        """Some entities wait for each other's locks in a cycle (the
        transitive closure of waits-for over contexts and the balance work)."""
        ents = range(self.p.nr_contexts + 1)
        holds = {e: self.holds(x, s, e) for e in ents}
        wants = {e: self.wants(x, s, e) for e in ents}
        edge = {
            (a, b): x.or_(
                *[x.and_(wants[a][lk], holds[b][lk]) for lk in (MUTEX, PCPU_LOCK, OUTSIDE)]
            )
            if a != b
            else False
            for a in ents
            for b in ents
        }
        reach = dict(edge)
        for _ in range(len(ents) - 1):
            reach = {
                (a, b): x.or_(reach[a, b], *[x.and_(reach[a, c], edge[c, b]) for c in ents])
                for a in ents
                for b in ents
            }
        return x.or_(*[reach[a, a] for a in ents])

    # --- the outside contexts' steps --------------------------------------------

    def outside_actions(self) -> list[Action]:
        acts: list[Action] = []
        for i in range(self.p.nr_contexts):
            acts += self.outside_context_actions(i)
        if self.sw.outside_lock == "fs":
            acts += self.balance_reclaim_actions()
        return acts

    def outside_context_actions(self, i: int) -> list[Action]:
        ctx, lock = alloc_context(i), self.sw.outside_lock
        what = {
            "sched": "rq->lock (a BPF program on a scheduler tracepoint)",
            "fs": "a filesystem lock, memalloc_nofs_save()",
        }[lock]

        def take_at(x: Ops, s: State) -> Any:
            return x.and_(
                self.idle_with_room(i, x, s),
                x.eq(s.outer[i], int(Outer.NONE)),
                x.not_(s.wakeup[i]),
                self.outside_free_for(x, s, i),
            )

        def take(x: Ops, s: State, ch: Choices) -> Step:
            # lock the outside lock; its pcpu_alloc() call is next
            return True, upd(s, outer=store(x, s.outer, i, int(Outer.HELD))), Events()

        def drop_at(x: Ops, s: State) -> Any:
            return x.and_(
                x.eq(s.outer[i], int(Outer.CALLED)),
                x.eq(s.pc[i], int(AllocPc.IDLE)),
                x.not_(s.wakeup[i]),
            )

        def drop(x: Ops, s: State, ch: Choices) -> Step:
            # pcpu_alloc() returned: unlock the outside lock
            return True, upd(s, outer=store(x, s.outer, i, int(Outer.NONE))), Events()

        acts = [
            Action(
                name=f"lock {lock}",
                context=ctx,
                kernel=f"outside mm/percpu.c: {what}, then pcpu_alloc()",
                choices=(),
                at=take_at,
                fn=take,
                kind=Kind.OUTSIDE_LOCK,
            ),
            Action(
                name=f"unlock {lock}",
                context=ctx,
                kernel=f"outside mm/percpu.c: after pcpu_alloc(), unlock ({what})",
                choices=(),
                at=drop_at,
                fn=drop,
                kind=Kind.OUTSIDE_UNLOCK,
            ),
        ]
        if lock == "sched":

            def wake_at(x: Ops, s: State) -> Any:
                return x.and_(s.wakeup[i], self.outside_free_for(x, s, i))

            def wake(x: Ops, s: State, ch: Choices) -> Step:
                # schedule_work(): __queue_work() (pool->lock), wake_up_process() (pi_lock,
                # rq->lock); the work is queued; then the pcpu_lock section goes on to its unlock
                post = upd(s, wakeup=store(x, s.wakeup, i, False), balance_pending=True)
                return True, post, Events()

            acts.append(
                Action(
                    name="schedule_work: wakeup",
                    context=ctx,
                    kernel="pcpu_schedule_balance_work() -> schedule_work(): pool->lock, "
                    "try_to_wake_up() (pi_lock, rq->lock); pcpu_lock held by the section "
                    "that scheduled it",
                    choices=(),
                    at=wake_at,
                    fn=wake,
                    kind=Kind.WAKEUP,
                )
            )
        if lock == "fs":

            def reclaim_at(x: Ops, s: State) -> Any:
                pc = s.pc[i]
                creating = x.and_(x.eq(pc, int(AllocPc.CREATE)), self.free_slot_empty(x, s))
                return x.and_(
                    x.or_(creating, x.eq(pc, int(AllocPc.POPULATE))),
                    x.eq(s.outer[i], int(Outer.NONE)),
                    x.not_(s.fs_reclaim[i]),
                )

            def reclaim(x: Ops, s: State, ch: Choices) -> Step:
                # pcpu_create_chunk() / pcpu_populate_chunk() with GFP_KERNEL, holding
                # pcpu_alloc_mutex: direct reclaim runs the filesystem's shrinkers
                return True, upd(s, fs_reclaim=store(x, s.fs_reclaim, i, True)), Events()

            def reclaimed_at(x: Ops, s: State) -> Any:
                return x.and_(s.fs_reclaim[i], self.outside_free_for(x, s, i))

            def reclaimed(x: Ops, s: State, ch: Choices) -> Step:
                # the shrinker takes and drops the filesystem's lock; the allocation goes on
                return True, upd(s, fs_reclaim=store(x, s.fs_reclaim, i, False)), Events()

            acts += self.direct_reclaim_actions(
                ctx, "pcpu_alloc()", (reclaim_at, reclaim), (reclaimed_at, reclaimed)
            )
        return acts

    def direct_reclaim_actions(
        self,
        ctx: Context,
        caller: str,
        enter: tuple[Callable[[Ops, State], Any], Callable[[Ops, State, Choices], Step]],
        leave: tuple[Callable[[Ops, State], Any], Callable[[Ops, State, Choices], Step]],
    ) -> list[Action]:
        """A GFP_KERNEL allocation of `caller`'s, pcpu_alloc_mutex held, entering
        direct reclaim, then its fs shrinker taking the filesystem's lock."""
        return [
            Action(
                name="direct reclaim",
                context=ctx,
                kernel=f"{caller} -> pcpu_create_chunk()/pcpu_populate_chunk(GFP_KERNEL), "
                "pcpu_alloc_mutex held: direct reclaim, the fs shrinkers",
                choices=(),
                at=enter[0],
                fn=enter[1],
                kind=Kind.FS_RECLAIM,
            ),
            Action(
                name="direct reclaim: fs lock",
                context=ctx,
                kernel="a fs shrinker takes the filesystem's lock (pcpu_alloc_mutex held)",
                choices=(),
                at=leave[0],
                fn=leave[1],
                kind=Kind.FS_RECLAIM_DONE,
            ),
        ]

    def balance_reclaim_actions(self) -> list[Action]:
        if self.sw.balance_noio:
            # 9a5b183941b5: memalloc_noio_save(): no FS or IO reclaim from the work
            return []

        def reclaim_at(x: Ops, s: State) -> Any:
            at = x.or_(*[x.eq(s.balance_pc, int(pc)) for pc in BALANCE_GFP_KERNEL_PCS])
            return x.and_(at, x.not_(s.balance_fs_reclaim))

        def reclaim(x: Ops, s: State, ch: Choices) -> Step:
            # pcpu_balance_populated(): GFP_KERNEL | __GFP_NORETRY, pcpu_alloc_mutex held
            return True, upd(s, balance_fs_reclaim=True), Events()

        def reclaimed_at(x: Ops, s: State) -> Any:
            return x.and_(s.balance_fs_reclaim, self.outside_free_for(x, s, None))

        def reclaimed(x: Ops, s: State, ch: Choices) -> Step:
            return True, upd(s, balance_fs_reclaim=False), Events()

        return self.direct_reclaim_actions(
            BALANCE_WORK, "pcpu_balance_workfn()", (reclaim_at, reclaim), (reclaimed_at, reclaimed)
        )

    # --- the waits the outside contexts add to the allocator's steps -----------

    def schedules_under_pcpu_lock(self, a: Action) -> bool:
        """Whether a's pcpu_lock section calls pcpu_schedule_balance_work()."""
        if self.sw.outside_lock != "sched":
            return False
        if a.kind is Kind.FREE:
            return self.sw.free_wakeup == "under-pcpu_lock"
        return a.kind in SCAN_KINDS and self.sw.low_check == "area-found"

    def lock_order(self, a: Action) -> Action:
        """a, waiting where the outside contexts hold what its step takes."""
        role, at, fn = a.context.role, a.at, a.fn
        if role is Role.BALANCE:
            if a.kind is Kind.BALANCE_START:
                return a
            reclaiming = a.kind in (Kind.BALANCE_CREATE, Kind.BALANCE_POPULATE)

            def balance_waits(x: Ops, s: State) -> Any:
                free = self.pcpu_lock_free_for(x, s, None)
                return x.and_(at(x, s), free, x.not_(s.balance_fs_reclaim) if reclaiming else True)

            return replace(a, at=balance_waits)
        if role is not Role.ALLOC:
            return a
        i = a.ctx
        assert i is not None
        kind, atomic = a.kind, a.atomic
        scoped = atomic == self.scoped_atomic()
        deferred = self.schedules_under_pcpu_lock(a)

        def waits(x: Ops, s: State) -> Any:
            outer = s.outer[i]
            ok = [
                at(x, s),
                x.not_(s.wakeup[i]),
                x.not_(s.fs_reclaim[i]),
                self.pcpu_lock_free_for(x, s, i),
            ]
            if kind is Kind.ALLOC:
                # a call under the outside lock is of its scope's kind; one call per hold
                held = x.eq(outer, int(Outer.HELD))
                ok.append(x.or_(x.eq(outer, int(Outer.NONE)), held if scoped else False))
            if kind is Kind.FREE:
                ok.append(x.eq(outer, int(Outer.NONE)))
            return x.and_(*ok)

        def step(x: Ops, s: State, ch: Choices) -> Step:
            guard, post, ev = fn(x, s, ch)
            if kind is Kind.ALLOC:
                held = x.eq(s.outer[i], int(Outer.HELD))
                post = upd(
                    post, outer=store(x, post.outer, i, x.ite(held, int(Outer.CALLED), s.outer[i]))
                )
            if deferred:
                # the wakeup is the next step, pcpu_lock still held; the
                # atomic failure's schedule comes after fail_unlock
                rising = x.and_(x.not_(s.balance_pending), post.balance_pending)
                if kind is not Kind.FREE:
                    rising = x.and_(rising, x.not_(x.eq(post.pc[i], int(AllocPc.IDLE))))
                post = upd(
                    post,
                    balance_pending=x.and_(post.balance_pending, x.not_(rising)),
                    wakeup=store(x, post.wakeup, i, rising),
                )
            return guard, post, ev

        return replace(a, at=waits, fn=step)
