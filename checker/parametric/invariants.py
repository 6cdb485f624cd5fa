"""The quantified invariants of no-use-after-free, for every geometry
(v4.13-counter-fix): the finite lemmas' loops over contexts, chunks and
cells become quantifiers over index ranges (Scope)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import z3

from percpu_mc.checker.parametric.scope import (
    AREA_PCS,
    BALANCE_HOLD_PCS,
    HOLD_PCS,
    PState,
    Scope,
    area_ok,
    area_populated,
    fully_free,
    in_area,
    truth,
)
from percpu_mc.model.control import (
    ALLOC_CHUNK_PCS,
    ALLOC_MUTEX_PCS,
    BALANCE_CHUNK_PCS,
    BALANCE_MUTEX_PCS,
    AllocPc,
    BalancePc,
)


@dataclass(frozen=True)
class Invariant:
    name: str
    says: str  # what it states, in the kernel's words
    holds: Callable[[Scope, PState], Any]
    part_of: str = ""  # the property (model/properties.py) it is a conjunct of


def _in(v: Any, pcs: Any) -> Any:
    return z3.Or(*[v == int(pc) for pc in pcs])


def _holds_area(S: Scope, s: PState, c: Any, off: Any, size: Any) -> Any:
    """A held area: well formed, every cell in use in its chunk, clear of the
    first chunk's static cells."""
    return z3.And(
        area_ok(S, off, size),
        s.amap[c][off],  # the instance the proofs about fully free chunks need
        S.cells_in(off, off + size, lambda k: s.amap[c][k]),
        z3.Implies(c == 0, S.STATIC <= off),
    )


def _apart(c1: Any, o1: Any, z1: Any, c2: Any, o2: Any, z2: Any) -> Any:
    """Two areas do not overlap (in different chunks, or disjoint ranges)."""
    return z3.Or(c1 != c2, o1 + z1 <= o2, o2 + z2 <= o1)


def _ctx_area(s: PState, i: Any) -> tuple[Any, Any, Any]:
    return s.chunk[i], s.off[i], s.size[i]


def _live_area(s: PState, h: Any) -> tuple[Any, Any, Any]:
    return s.lc[h], s.lo[h], s.ls[h]


def _holder(s: PState, i: Any) -> Any:
    return _in(s.pc[i], AREA_PCS)


def uaf_invariants(balance_list: bool = True) -> list[Invariant]:
    out = [
        Invariant(
            "context-chunk-live",
            "a context at a step that dereferences its chunk names a live chunk",
            lambda S, s: S.contexts(
                lambda i: z3.Implies(
                    _in(s.pc[i], ALLOC_CHUNK_PCS), z3.And(S.chunk(s.chunk[i]), s.live[s.chunk[i]])
                )
            ),
            "no-use-after-free",
        ),
        Invariant(
            "allocation-chunk-live",
            "every live allocation lies in a live chunk",
            lambda S, s: S.slots(
                lambda h: z3.Implies(s.lv[h], z3.And(S.chunk(s.lc[h]), s.live[s.lc[h]]))
            ),
            "no-use-after-free",
        ),
        Invariant(
            "balance-chunk-live",
            "the balance work's chunk is live while it extends or populates it",
            lambda S, s: z3.Implies(
                _in(s.bpc, BALANCE_CHUNK_PCS), z3.And(S.chunk(s.bchunk), s.live[s.bchunk])
            ),
            "no-use-after-free",
        ),
        Invariant(
            "dead-chunk-no-extension",
            "a dead chunk has no pending or running map extension",
            lambda S, s: S.chunks(
                lambda c: z3.Or(s.live[c], z3.And(z3.Not(s.mep[c]), z3.Not(s.ext_running[c])))
            ),
            "no-use-after-free",
        ),
        Invariant(
            "context-steps",
            "whole-call pcpu_alloc() (6710e594f71c) has no separate mutex_lock steps "
            "and a locked counter update",
            lambda S, s: S.contexts(
                lambda i: _in(s.pc[i], (AllocPc.IDLE, AllocPc.COUNTER) + HOLD_PCS)
            ),
        ),
        Invariant(
            "mutex-context",
            "a context at a step that holds pcpu_alloc_mutex owns it",
            lambda S, s: S.contexts(lambda i: z3.Implies(_in(s.pc[i], HOLD_PCS), s.mutex == i + 1)),
        ),
        Invariant(
            "mutex-balance",
            "the balance work past its mutex_lock owns pcpu_alloc_mutex",
            lambda S, s: z3.Implies(_in(s.bpc, BALANCE_HOLD_PCS), s.mutex == S.balance_owner()),
        ),
        Invariant(
            "first-chunk",
            "pcpu_first_chunk is live and its static cells are in use",
            lambda S, s: z3.And(
                s.live[0], s.amap[0][0], S.cells_in(0, S.STATIC, lambda k: s.amap[0][k])
            ),
        ),
        Invariant(
            "reserved-chunk",
            "pcpu_reserved_chunk is live and never on pcpu_slot[]",
            lambda S, s: z3.Implies(S.R, z3.And(s.live[1], z3.Not(s.linked[1]))),
        ),
        Invariant(
            "to-free",
            "a chunk on to_free is live, dynamic, off every list, fully free, and "
            "the balance work is destroying it",
            lambda S, s: S.chunks(
                lambda c: z3.Implies(
                    s.to_free[c],
                    z3.And(
                        s.live[c],
                        c != 0,
                        S.normal(c),
                        z3.Not(s.linked[c]),
                        z3.Not(s.mep[c]),
                        z3.Not(s.ext_running[c]),
                        s.bpc == int(BalancePc.DESTROY),
                        fully_free(S, s, c),
                    ),
                )
            ),
        ),
        Invariant(
            "held-not-to-free",
            "no area in flight or live allocation lies in a chunk on to_free",
            lambda S, s: z3.And(
                S.contexts(lambda i: z3.Implies(_holder(s, i), z3.Not(s.to_free[s.chunk[i]]))),
                S.slots(lambda h: z3.Implies(s.lv[h], z3.Not(s.to_free[s.lc[h]]))),
            ),
        ),
        Invariant(
            "context-area",
            "an allocation in flight past pcpu_alloc_area() holds its area's cells",
            lambda S, s: S.contexts(
                lambda i: z3.Implies(_holder(s, i), _holds_area(S, s, *_ctx_area(s, i)))
            ),
        ),
        Invariant(
            "allocation-area",
            "a live allocation holds its area's cells",
            lambda S, s: S.slots(
                lambda h: z3.Implies(s.lv[h], _holds_area(S, s, *_live_area(s, h)))
            ),
        ),
        Invariant(
            "areas-apart-contexts",
            "areas in flight do not overlap",
            lambda S, s: S.contexts(
                lambda i: S.contexts(
                    lambda j: z3.Implies(
                        z3.And(i != j, _holder(s, i), _holder(s, j)),
                        _apart(*_ctx_area(s, i), *_ctx_area(s, j)),
                    )
                )
            ),
        ),
        Invariant(
            "areas-apart-context-allocation",
            "an area in flight and a live allocation do not overlap",
            lambda S, s: S.contexts(
                lambda i: S.slots(
                    lambda h: z3.Implies(
                        z3.And(_holder(s, i), s.lv[h]), _apart(*_ctx_area(s, i), *_live_area(s, h))
                    )
                )
            ),
        ),
        Invariant(
            "areas-apart-allocations",
            "live allocations do not overlap",
            lambda S, s: S.slots(
                lambda h: S.slots(
                    lambda g: z3.Implies(
                        z3.And(h != g, s.lv[h], s.lv[g]),
                        _apart(*_live_area(s, h), *_live_area(s, g)),
                    )
                )
            ),
        ),
    ]
    if balance_list:
        out.append(
            Invariant(
                "no-map-extend-work",
                "4f996e234dad: no map_extend_work; the balance work extends maps",
                lambda S, s: S.chunks(lambda c: z3.Not(s.ext_running[c])),
            )
        )
    return out


def _owner_populates(S: Scope, s: PState, c: Any, k: Any) -> Any:
    """Cell k of chunk c lies in the area of the context that owns
    pcpu_alloc_mutex, and that context is populating it."""
    i = s.mutex - 1
    return z3.And(
        S.context(i),
        s.pc[i] == int(AllocPc.POPULATE),
        s.chunk[i] == c,
        in_area(k, s.off[i], s.size[i]),
    )


def counter_invariants() -> list[Invariant]:
    """counter-exact in every state (the fix moves the counter with the map
    in the same pcpu_lock sections) and what its consecution reads."""
    return [
        Invariant(
            "counter-exact",
            "pcpu_nr_empty_pop_pages: 'The number of empty populated pages ... The "
            "reserved chunk doesn't contribute to the count': the sum over live "
            "non-reserved chunks of their populated pages with no cell in use",
            lambda S, s: s.ctr == truth(S, s),
            "counter-exact",
        ),
        Invariant(
            "immutable-populated",
            "pcpu_first_chunk and pcpu_reserved_chunk are fully populated",
            lambda S, s: S.pages(lambda pg: z3.And(s.pop[0][pg], z3.Implies(S.R, s.pop[1][pg]))),
        ),
        Invariant(
            "allocation-populated",
            "1a4d76076cda: a live allocation lies on populated pages (pcpu_alloc() "
            "populates before returning)",
            lambda S, s: S.slots(
                lambda h: z3.Implies(s.lv[h], area_populated(S, s, s.lc[h], s.lo[h], s.ls[h]))
            ),
            "populated-backing",
        ),
        Invariant(
            "returning-populated",
            "an allocation past its population lies on populated pages",
            lambda S, s: S.contexts(
                lambda i: z3.Implies(
                    s.pc[i] == int(AllocPc.COUNTER),
                    area_populated(S, s, s.chunk[i], s.off[i], s.size[i]),
                )
            ),
            "populated-backing",
        ),
        Invariant(
            "unpopulated-owner",
            "a cell in use on an unpopulated page of a live chunk belongs to the area "
            "the pcpu_alloc_mutex owner is populating",
            lambda S, s: S.chunks(
                lambda c: z3.Implies(
                    s.live[c],
                    S.pages(
                        lambda pg: z3.Implies(
                            z3.Not(s.pop[c][pg]),
                            z3.And(
                                *[
                                    z3.Implies(s.amap[c][k], _owner_populates(S, s, c, k))
                                    for k in S.page_cells(pg)
                                ]
                            ),
                        )
                    ),
                )
            ),
        ),
    ]


def deadlock_invariants() -> list[Invariant]:
    """no-deadlock: pcpu_alloc_mutex is held only by a code path that still
    holds it (the converse of mutex-context and mutex-balance)."""
    return [
        Invariant(
            "mutex-owner-context",
            "mm/percpu.c synchronization rules: pcpu_alloc_mutex owned by a context "
            "is held by its pcpu_alloc() at a step that holds it",
            lambda S, s: S.contexts(
                lambda i: z3.Implies(s.mutex == i + 1, _in(s.pc[i], ALLOC_MUTEX_PCS["whole-call"]))
            ),
            "no-deadlock",
        ),
        Invariant(
            "mutex-owner-balance",
            "pcpu_alloc_mutex owned by the balance work is held by pcpu_balance_workfn() "
            "past its mutex_lock",
            lambda S, s: z3.Implies(s.mutex == S.balance_owner(), _in(s.bpc, BALANCE_MUTEX_PCS)),
            "no-deadlock",
        ),
    ]


def all_invariants(balance_list: bool = True) -> list[Invariant]:
    """The one inductive invariant, as its quantified conjuncts."""
    return uaf_invariants(balance_list) + counter_invariants() + deadlock_invariants()
