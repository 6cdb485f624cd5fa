"""The balance work's steps of the parameterized relation (relation.py):
pcpu_balance_workfn's collect, destroy, map extension and population.
"""

from __future__ import annotations

from typing import Callable

import z3

from percpu_mc.checker.parametric.alloc_steps import _create
from percpu_mc.checker.parametric.scope import (
    PState,
    Scope,
    Step,
    Transition,
    Witness,
    fully_free,
    in_slots,
    upd,
)
from percpu_mc.model.control import BalancePc


def _bmove(name: str, kernel: str, pre: BalancePc, post: BalancePc) -> Transition:
    """A balance work step that changes only its program counter; to IDLE
    it ends the run: mutex_unlock(&pcpu_alloc_mutex) (the run holds it from
    the collect step on)."""

    def fn(S: Scope, s: PState, w: Witness) -> Step:
        out = upd(s, bpc=z3.IntVal(int(post)))
        if post == BalancePc.IDLE and pre != BalancePc.IDLE:
            out = upd(out, mutex=z3.IntVal(0))
        return s.bpc == int(pre), out

    return Transition(name, kernel, (), fn)


def _after_phase1(w: Witness) -> int:
    """Where the balance work goes once to_free is empty: the map extension
    list (4f996e234dad), or phase 2."""
    return int(BalancePc.EXT_PICK if w["balance_list"] else BalancePc.RETRY_POP)


def _collect(S: Scope, s: PState, w: Witness) -> Step:
    # mutex_lock(&pcpu_alloc_mutex); pcpu_lock: free chunks of the free slot to to_free
    mv, destroy = w["mv"], w["destroy"]
    c = z3.Int("c!mv")
    guard = z3.And(
        s.bpc == int(BalancePc.MUTEX),
        s.mutex == 0,
        S.chunks(
            lambda j: z3.Implies(mv[j], z3.And(S.normal(j), in_slots(s, j), fully_free(S, s, j)))
        ),
        z3.Or(destroy, S.chunks(lambda j: z3.Not(mv[j]))),
    )
    post = upd(
        s,
        mutex=S.balance_owner(),
        to_free=mv,
        linked=z3.Lambda([c], z3.And(s.linked[c], z3.Not(mv[c]))),
        bpc=z3.If(destroy, int(BalancePc.DESTROY), _after_phase1(w)),
    )
    if w["balance_list"]:
        # 4f996e234dad: list_del_init(&chunk->map_extend_list)
        post = upd(post, mep=z3.Lambda([c], z3.And(s.mep[c], z3.Not(mv[c]))))
    return guard, post


def _destroy(S: Scope, s: PState, w: Witness) -> Step:
    # phase 1: pcpu_depopulate_chunk(), pcpu_chunk_depopulated() (the
    # counter loses the chunk's populated pages), pcpu_destroy_chunk() of a
    # to_free chunk
    c, more = w["c"], w["more"]
    post = upd(
        s,
        live=z3.Store(s.live, c, False),
        to_free=z3.Store(s.to_free, c, False),
        pop=z3.Store(s.pop, c, z3.K(z3.IntSort(), z3.BoolVal(False))),
        ctr=s.ctr - S.count_pages(lambda pg: s.pop[c][pg]),
    )
    guard = z3.And(
        s.bpc == int(BalancePc.DESTROY),
        S.chunk(c),
        s.to_free[c],
        z3.Or(more, S.chunks(lambda j: z3.Not(post.to_free[j]))),
    )
    return guard, upd(post, bpc=z3.If(more, int(BalancePc.DESTROY), _after_phase1(w)))


def _ext_pick(S: Scope, s: PState, w: Witness) -> Step:
    # 4f996e234dad: pcpu_lock: take a chunk off pcpu_map_extend_chunks
    c, go = w["c"], w["go"]
    guard = z3.And(s.bpc == int(BalancePc.EXT_PICK), S.chunk(c), s.mep[c])
    post = upd(
        s,
        mep=z3.Store(s.mep, c, False),
        bchunk=c,
        bpc=z3.If(go, int(BalancePc.EXT), int(BalancePc.EXT_PICK)),
    )
    return guard, post


def _pick(S: Scope, s: PState, w: Witness) -> Step:
    # phase 2: pcpu_lock: a chunk of pcpu_slot[] with unpopulated pages
    c = w["c"]
    guard = z3.And(s.bpc == int(BalancePc.PICK), S.chunk(c), in_slots(s, c))
    return guard, upd(s, bchunk=c, bpc=z3.IntVal(int(BalancePc.POP)))


def _balance_create(S: Scope, s: PState, w: Witness) -> Step:
    # phase 2: pcpu_create_chunk(); pcpu_lock: relocate; goto retry_pop
    ok, post = _create(S, s, w["n"])
    return z3.And(s.bpc == int(BalancePc.CREATE), ok), upd(
        post, bpc=z3.IntVal(int(BalancePc.RETRY_POP))
    )


def _ext_start(S: Scope, s: PState, w: Witness) -> Step:
    # 1a4d76076cda: the workqueue runs chunk->map_extend_work: pcpu_lock,
    # pcpu_need_to_extend(); no reference on the chunk, no mutex
    c, run = w["c"], w["run"]
    guard = z3.And(S.chunk(c), s.mep[c], z3.Not(s.ext_running[c]))
    return guard, upd(s, mep=z3.Store(s.mep, c, False), ext_running=z3.Store(s.ext_running, c, run))


def _ext_done(S: Scope, s: PState, w: Witness) -> Step:
    # 1a4d76076cda: pcpu_extend_area_map(chunk, new_alloc), no mutex
    c = w["c"]
    return z3.And(S.chunk(c), s.ext_running[c]), upd(
        s, ext_running=z3.Store(s.ext_running, c, False)
    )


def _balance_populate(post_pc: BalancePc) -> Callable[[Scope, PState, Witness], Step]:
    """pcpu_populate_chunk() of the balance work's chunk (pcpu_alloc_mutex);
    pcpu_lock: pcpu_chunk_populated(), the counter gains the pages it
    populates; then more of the chunk, the next chunk, or the end of the run."""

    def fn(S: Scope, s: PState, w: Witness) -> Step:
        c, region = s.bchunk, w["region"]
        pg = z3.Int("pg!bpop")
        grown = z3.Lambda([pg], z3.Or(s.pop[c][pg], region[pg]))
        added = S.count_pages(lambda k: z3.And(region[k], z3.Not(s.pop[c][k])))
        out = upd(s, pop=z3.Store(s.pop, c, grown), ctr=s.ctr + added, bpc=z3.IntVal(int(post_pc)))
        if post_pc == BalancePc.IDLE:
            out = upd(out, mutex=z3.IntVal(0))
        return s.bpc == int(BalancePc.POP), out

    return fn
