"""The lock-order variants (model/actions/outside.py): no-deadlock as a
wait-for cycle over pcpu_alloc_mutex, pcpu_lock held across steps and a lock
from outside mm/percpu.c.  Each bug's run is built step by step, its cycle
checked (both contexts blocked, the property broken only at the last step),
and the same run in the fixed variant leaves no cycle."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from shared import enabled, holds, step

from percpu_mc.checker import specs
from percpu_mc.model.control import AllocPc, BalancePc, Outer
from percpu_mc.model.invariants import unassigned_fields
from percpu_mc.model.machine import Model
from percpu_mc.model.ops import Concrete
from percpu_mc.model.params import Params
from percpu_mc.model.state import State
from percpu_mc.model.vocabulary import Kind

X = Concrete()


def model(name: str, **switches: object) -> Model:
    p = specs.load(name).params
    return Model(replace(p, switches=replace(p.switches, **switches)) if switches else p)


def alloc(m: Model, s: State, ctx: int, size: int, atomic: bool = False, **ch: int) -> State:
    kind = "atomic" if atomic else "non-atomic"
    return step(m, s, f"pcpu_alloc ({kind})", ctx, size=size, align=1, **ch)


def nofs_run(m: Model) -> list[State]:
    """alloc#1 holds pcpu_alloc_mutex and its pcpu_create_chunk(GFP_KERNEL)
    enters direct reclaim; alloc#2 takes the filesystem lock."""
    s0 = m.init()
    s1 = alloc(m, s0, 0, size=2)
    assert s1.pc[0] == AllocPc.CREATE
    s2 = step(m, s1, "direct reclaim", 0)
    s3 = step(m, s2, "lock fs", 1)
    return [s0, s1, s2, s3]


def test_28307d938fb2_nofs_caller_waits_for_the_mutex_held_in_reclaim() -> None:
    m = model("v5.6-nofs")
    run = nofs_run(m)
    assert all(holds(m, s, "no-deadlock") for s in run[:-1])
    last = run[-1]
    assert not holds(m, last, "no-deadlock")
    # both wait: alloc#2's call under the lock is mutex_lock(), alloc#1's
    # shrinker waits for the fs lock
    assert not enabled(m, last, "pcpu_alloc (non-atomic)", 1)
    assert not enabled(m, last, "pcpu_alloc (atomic)", 1)
    assert not enabled(m, last, "direct reclaim: fs lock", 0)
    assert not enabled(m, last, "pcpu_create_chunk", 0)


def test_28307d938fb2_makes_the_scoped_request_atomic() -> None:
    m = model("v5.7-nofs")
    last = nofs_run(m)[-1]
    assert holds(m, last, "no-deadlock")
    # the request in the NOFS scope is atomic: it fails (no populated room),
    # and the lock is dropped, so the shrinker can go on
    assert not enabled(m, last, "pcpu_alloc (non-atomic)", 1)
    s = alloc(m, last, 1, size=2, atomic=True)
    assert s.outer[1] == Outer.CALLED and s.pc[1] == AllocPc.IDLE
    s = step(m, s, "unlock fs", 1)
    s = step(m, s, "direct reclaim: fs lock", 0)
    assert holds(m, s, "no-deadlock") and s.fs_reclaim == (False, False)


def test_no_reclaim_recursion_inside_the_nofs_scope() -> None:
    """The context holding the fs lock allocates in its scope: its own
    allocations never wait for the lock it holds."""
    m = model("v5.6-nofs")
    s = step(m, m.init(), "lock fs", 0)
    s = alloc(m, s, 0, size=2)
    assert s.pc[0] == AllocPc.CREATE
    assert not enabled(m, s, "direct reclaim", 0)


def test_9a5b183941b5_keeps_the_balance_work_out_of_fs_reclaim() -> None:
    for noio, has in ((False, True), (True, False)):
        m = model("v5.6-nofs", balance_noio=noio)
        s = replace(m.init(), balance_pc=int(BalancePc.CREATE), alloc_mutex=m.kernel.bal)
        assert enabled(m, s, "direct reclaim") is has


def sched_run(m: Model) -> State:
    """Two chunks made, one emptied by free_percpu() while the other sits
    on the free slot (the grim reaper's need_balance), then alloc#2 takes
    rq->lock for its GFP_ATOMIC call: the shortest run of v5.1-sched."""
    s = step(m, m.init(), "percpu_enable_async")
    s = alloc(m, s, 0, size=2)
    s = step(m, s, "pcpu_create_chunk", 0, chunk=1)
    s = step(m, s, "pcpu_populate_chunk", 0)
    s = step(m, s, "pcpu_alloc: counter", 0)  # counter 0 < LOW: schedule
    s = step(m, s, "pcpu_balance_workfn")
    s = step(m, s, "pcpu_balance_workfn: collect")
    s = step(m, s, "pcpu_balance_workfn: map extend pick")
    s = step(m, s, "pcpu_balance_workfn: retry_pop")
    s = step(m, s, "pcpu_balance_workfn: pick chunk", chunk=1)
    s = step(m, s, "pcpu_populate_chunk")
    s = step(m, s, "pcpu_balance_workfn: pick chunk")
    assert s.balance_pc == BalancePc.CREATE
    s = step(m, s, "pcpu_create_chunk")
    assert s.pc == (AllocPc.IDLE, AllocPc.IDLE) and s.live[2]
    s = step(m, s, "free_percpu", 0)
    return s


def test_198790d9a3ae_wakeup_under_pcpu_lock_closes_a_cycle() -> None:
    m = model("v5.1-sched")
    s = sched_run(m)
    assert s.wakeup[0] and not s.balance_pending
    assert holds(m, s, "no-deadlock")
    t = step(m, s, "lock sched", 1)
    assert not holds(m, t, "no-deadlock")
    # alloc#1 waits in the wakeup for rq->lock, alloc#2's pcpu_alloc() for
    # pcpu_lock, and nothing else that takes pcpu_lock runs
    assert not enabled(m, t, "schedule_work: wakeup", 0)
    assert not enabled(m, t, "pcpu_alloc (atomic)", 1)
    assert not any(
        a.at(X, t) for a in m.actions if a.ctx is None and a.kind is not Kind.ENABLE_ASYNC
    )
    # without rq->lock taken the wakeup goes through and queues the work
    u = step(m, s, "schedule_work: wakeup", 0)
    assert u.balance_pending and not u.wakeup[0] and holds(m, u, "no-deadlock")


def test_198790d9a3ae_schedules_after_the_unlock() -> None:
    m = model("v5.2-sched")
    s = sched_run(m)
    assert s.balance_pending and not any(s.wakeup)
    t = step(m, s, "lock sched", 1)
    assert holds(m, t, "no-deadlock")
    assert enabled(m, t, "pcpu_alloc (atomic)", 1)


def test_no_outside_lock_adds_nothing() -> None:
    """A spec without an outside lock has the same actions as before."""
    p: Params = specs.load("v5.14").params
    base = Model(p)
    assert not any(a.name.startswith(("lock ", "unlock ", "direct reclaim")) for a in base.actions)
    assert all(s == 0 for s in base.init().outer)


def test_6_13_low_check_wakes_up_under_pcpu_lock() -> None:
    """v6.13-sched: the first allocation leaves the counter below LOW and
    schedules at area_found, pcpu_lock held; v6.1-sched schedules at the
    return, holding nothing."""
    for name, cycle in (("v6.13-sched", True), ("v6.1-sched", False)):
        m = model(name)
        s = step(m, m.init(), "percpu_enable_async")
        s = alloc(m, s, 0, size=1, atomic=True)
        assert s.wakeup[0] is cycle and s.pc[0] == AllocPc.COUNTER, name
        t = step(m, s, "lock sched", 1)
        assert holds(m, t, "no-deadlock") is not cycle, name
        assert enabled(m, t, "pcpu_alloc (atomic)", 1) is not cycle, name


def test_9a5b183941b5_leaves_the_allocating_path_in_reclaim() -> None:
    """v6.15-nofs: the balance work never enters FS reclaim, but a plain
    caller's pcpu_create_chunk() under the mutex does, and the NOFS caller
    waits for the mutex again."""
    m = model("v6.15-nofs")
    assert not any(a.name == "direct reclaim" and a.ctx is None for a in m.actions)
    assert not holds(m, nofs_run(m)[-1], "no-deadlock")


@pytest.mark.parametrize("name", ["v4.13-one-chunk", "v5.9", "v5.14", "v6.13", "v5.6-nofs"])
def test_unassigned_fields_keep_their_initial_values(name: str) -> None:
    """The domains lemma pins the fields a variant never assigns (the
    outside contexts', the chunk types', demotion's) to their initial
    values, so that induction need not rule out a wait-for cycle through
    them: random runs of 40 steps keep them, and each spec leaves some
    field unassigned."""
    m = Model(specs.load(name).params)
    unused = unassigned_fields(m.p.switches)
    assert unused
    init = m.init()
    rng = random.Random(name)
    for _ in range(6):
        s = init
        for _ in range(40):
            nxt = [t for _, _, t in m.successors(s)]
            if not nxt:
                break
            s = rng.choice(nxt)
            assert all(getattr(s, f) == getattr(init, f) for f in unused)
