"""The counting layer's first part: ghost count and sum functions and their
generic lemmas, each proved once by induction.

`cnt(P, lo, hi)` is how many k in [lo, hi) satisfy P (an Int -> Bool array:
say "page k of a chunk is populated and empty"), `sm(F, lo, hi)` the sum of
F (Int -> Int: say each chunk's count) over [lo, hi).  Each is an
uninterpreted function defined by a base and a step axiom (the only
assumptions a proof using them makes); the lemmas a counter proof needs
(bounds, extensionality, the split of a range, a point update) are proved
from the definitions by induction on the range's upper end: the base case
at hi = lo, and the step from hi - 1 to hi, each one `unsat` query with the
definitions' instances at hand given as ground facts, and instances of the
lemmas proved before it (`uses`: a point update's step reads
extensionality below the updated index).

Not built yet on top of this: the relation's populated pages and counter,
the counter-exact invariants, and their conformance (docs/proofs-and-lassos.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import z3

from percpu_mc.checker.parametric.scope import (
    CNT,
    SM,
    BoolArr,
    IntArr,
    PState,
    Scope,
    empty_populated,
    one,
    page_empty,
    truth,
)


def cnt_def(P: Any, lo: Any, hi: Any) -> Any:
    """The definition of cnt at (P, lo, hi): its base or step axiom's instance."""
    return z3.If(
        hi <= lo, CNT(P, lo, hi) == 0, CNT(P, lo, hi) == CNT(P, lo, hi - 1) + one(P[hi - 1])
    )


def sm_def(F: Any, lo: Any, hi: Any) -> Any:
    return z3.If(hi <= lo, SM(F, lo, hi) == 0, SM(F, lo, hi) == SM(F, lo, hi - 1) + F[hi - 1])


def definitions() -> list[Any]:
    """The axioms, quantified: all a proof that uses the lemmas assumes."""
    P, F = z3.Const("P", BoolArr), z3.Const("F", IntArr)
    lo, hi = z3.Ints("lo hi")
    return [z3.ForAll([P, lo, hi], cnt_def(P, lo, hi)), z3.ForAll([F, lo, hi], sm_def(F, lo, hi))]


@dataclass(frozen=True)
class CountLemma:
    """A statement L(hi) over free P, Q, F, G, lo, j, v, mid, proved for
    every hi >= lo (`start`: the least hi it is stated for, default lo)."""

    name: str
    says: str
    holds: Callable[[dict[str, Any], Any], Any]
    # instances of lemmas proved before it that its induction step reads
    uses: Callable[[dict[str, Any], Any], list[Any]] = lambda v, hi: []
    start: Callable[[dict[str, Any]], Any] = lambda v: v["lo"]


def _vars() -> dict[str, Any]:
    return {
        "P": z3.Const("P", BoolArr),
        "Q": z3.Const("Q", BoolArr),
        "R": z3.Const("R", BoolArr),
        "F": z3.Const("F", IntArr),
        "G": z3.Const("G", IntArr),
        "lo": z3.Int("lo"),
        "mid": z3.Int("mid"),
        "j": z3.Int("j"),
        "b": z3.Bool("b"),
        "n": z3.Int("n"),
    }


def _same(P: Any, Q: Any, lo: Any, hi: Any) -> Any:
    k = z3.Int("k")
    return z3.ForAll([k], z3.Implies(z3.And(lo <= k, k < hi), P[k] == Q[k]))


def _union(P: Any, Q: Any, R: Any, lo: Any, hi: Any) -> Any:
    k = z3.Int("k")
    return z3.ForAll(
        [k],
        z3.Implies(
            z3.And(lo <= k, k < hi), z3.And(P[k] == z3.Or(Q[k], R[k]), z3.Not(z3.And(Q[k], R[k])))
        ),
    )


def _at_least_0(F: Any, lo: Any, hi: Any) -> Any:
    k = z3.Int("k")
    return z3.ForAll([k], z3.Implies(z3.And(lo <= k, k < hi), F[k] >= 0))


CNT_EXTENSIONAL = CountLemma(
    "cnt-extensional",
    "P and Q agree on [lo, hi): their counts there are equal",
    lambda v, hi: z3.Implies(
        _same(v["P"], v["Q"], v["lo"], hi), CNT(v["P"], v["lo"], hi) == CNT(v["Q"], v["lo"], hi)
    ),
)
SM_EXTENSIONAL = CountLemma(
    "sm-extensional",
    "F and G agree on [lo, hi): their sums there are equal",
    lambda v, hi: z3.Implies(
        _same(v["F"], v["G"], v["lo"], hi), SM(v["F"], v["lo"], hi) == SM(v["G"], v["lo"], hi)
    ),
)


def _below_update(v: dict[str, Any], hi: Any) -> list[Any]:
    """An update at j >= hi - 1 leaves the range below hi - 1 as it was."""
    Pj, Fj = z3.Store(v["P"], v["j"], v["b"]), z3.Store(v["F"], v["j"], v["n"])
    return [
        CNT_EXTENSIONAL.holds({**v, "P": Pj, "Q": v["P"]}, hi - 1),
        SM_EXTENSIONAL.holds({**v, "F": Fj, "G": v["F"]}, hi - 1),
    ]


LEMMAS = [
    CountLemma(
        "cnt-bounds",
        "0 <= cnt(P, lo, hi) <= hi - lo",
        lambda v, hi: z3.And(
            0 <= CNT(v["P"], v["lo"], hi), CNT(v["P"], v["lo"], hi) <= hi - v["lo"]
        ),
    ),
    CountLemma(
        "cnt-zero",
        "no k in [lo, hi) satisfies P: cnt(P, lo, hi) = 0",
        lambda v, hi: z3.Implies(
            _same(v["P"], z3.K(z3.IntSort(), z3.BoolVal(False)), v["lo"], hi),
            CNT(v["P"], v["lo"], hi) == 0,
        ),
    ),
    CNT_EXTENSIONAL,
    SM_EXTENSIONAL,
    CountLemma(
        "cnt-add",
        "P is the disjoint union of Q and R on [lo, hi): cnt(P) = cnt(Q) + cnt(R) there",
        lambda v, hi: z3.Implies(
            _union(v["P"], v["Q"], v["R"], v["lo"], hi),
            CNT(v["P"], v["lo"], hi) == CNT(v["Q"], v["lo"], hi) + CNT(v["R"], v["lo"], hi),
        ),
    ),
    CountLemma(
        "sm-zero",
        "F is 0 on [lo, hi): sm(F, lo, hi) = 0",
        lambda v, hi: z3.Implies(
            _same(v["F"], z3.K(z3.IntSort(), z3.IntVal(0)), v["lo"], hi),
            SM(v["F"], v["lo"], hi) == 0,
        ),
    ),
    CountLemma(
        "sm-nonnegative",
        "F is at least 0 on [lo, hi): sm(F, lo, hi) >= 0",
        lambda v, hi: z3.Implies(_at_least_0(v["F"], v["lo"], hi), SM(v["F"], v["lo"], hi) >= 0),
    ),
    CountLemma(
        "cnt-split",
        "lo <= mid <= hi: cnt(P, lo, hi) = cnt(P, lo, mid) + cnt(P, mid, hi)",
        lambda v, hi: z3.Implies(
            z3.And(v["lo"] <= v["mid"], v["mid"] <= hi),
            CNT(v["P"], v["lo"], hi) == CNT(v["P"], v["lo"], v["mid"]) + CNT(v["P"], v["mid"], hi),
        ),
    ),
    CountLemma(
        "cnt-point-update",
        "lo <= j < hi: cnt(P[j := b], lo, hi) = cnt(P, lo, hi) - [P[j]] + [b]",
        lambda v, hi: z3.Implies(
            z3.And(v["lo"] <= v["j"], v["j"] < hi),
            CNT(z3.Store(v["P"], v["j"], v["b"]), v["lo"], hi)
            == CNT(v["P"], v["lo"], hi) - one(v["P"][v["j"]]) + one(v["b"]),
        ),
        _below_update,
    ),
    CountLemma(
        "sm-point-update",
        "lo <= j < hi: sm(F[j := n], lo, hi) = sm(F, lo, hi) - F[j] + n",
        lambda v, hi: z3.Implies(
            z3.And(v["lo"] <= v["j"], v["j"] < hi),
            SM(z3.Store(v["F"], v["j"], v["n"]), v["lo"], hi)
            == SM(v["F"], v["lo"], hi) - v["F"][v["j"]] + v["n"],
        ),
        _below_update,
    ),
]


def _instances(v: dict[str, Any], hi: Any) -> list[Any]:
    """The definitions' instances an induction step at hi reads."""
    P, Q, F, lo, mid, j = v["P"], v["Q"], v["F"], v["lo"], v["mid"], v["j"]
    Pj = z3.Store(P, j, v["b"])
    Fj = z3.Store(F, j, v["n"])
    out = []
    for arr in (P, Q, v["R"], Pj, z3.K(z3.IntSort(), z3.BoolVal(False))):
        out += [cnt_def(arr, lo, hi), cnt_def(arr, mid, hi)]
    out += [cnt_def(v["R"], lo, lo)]
    out += [sm_def(Fj, lo, hi), sm_def(F, lo, hi), sm_def(v["G"], lo, hi), sm_def(v["G"], lo, lo)]
    out += [cnt_def(P, lo, mid), cnt_def(P, mid, mid), cnt_def(P, lo, lo), sm_def(F, lo, lo)]
    out += [cnt_def(arr, lo, lo) for arr in (Q, Pj, z3.K(z3.IntSort(), z3.BoolVal(False)))]
    out += [sm_def(Fj, lo, lo)]
    return out


@dataclass(frozen=True)
class LemmaProof:
    name: str
    base: str  # z3 verdict of the base case ("unsat": holds)
    step: str

    @property
    def proved(self) -> bool:
        return self.base == "unsat" and self.step == "unsat"


def prove(lemma: CountLemma, timeout_ms: int = 10_000) -> LemmaProof:
    """L(start) and L(hi - 1) => L(hi) for hi > start."""
    v = _vars()
    start = lemma.start(v)
    hi = z3.Int("hi")
    verdicts = []
    for query in (
        [hi == start, *_instances(v, hi), z3.Not(lemma.holds(v, hi))],
        [
            hi > start,
            lemma.holds(v, hi - 1),
            *lemma.uses(v, hi),
            *_instances(v, hi),
            z3.Not(lemma.holds(v, hi)),
        ],
    ):
        s = z3.Solver()
        s.set("timeout", timeout_ms)
        s.add(*query)
        verdicts.append(str(s.check()))
    return LemmaProof(lemma.name, *verdicts)


# --- the lemmas' instances a proof over the relation reads -----------------

BY_NAME = {lm.name: lm for lm in LEMMAS}


def _at(name: str, hi: Any, **given: Any) -> Any:
    """Lemma `name` at [0, hi) with the given arrays and indices."""
    return BY_NAME[name].holds({**_vars(), "lo": z3.IntVal(0), **given}, hi)


def _counts(e: Any) -> list[Any]:
    """The cnt(X, lo, hi) terms of e (a step's counter move)."""
    out, todo, seen = [], [e], set()
    while todo:
        t = todo.pop()
        if t.get_id() in seen:
            continue
        seen.add(t.get_id())
        if z3.is_app(t) and t.decl().eq(CNT):
            out.append(t)
        elif z3.is_app(t):
            todo += t.children()
    return out


def _pages(S: Scope, f: Any) -> Any:
    pg = z3.Int("pg")
    return z3.Lambda([pg], f(pg))


def counting_facts(S: Scope, parts: list[tuple[PState, Any]], post: PState) -> list[Any]:
    """Instances of the proved lemmas that relate a step's counter move to the
    change of the sum, per part of the step (a chunk it changes, with the
    state before; the state after is the next part's, or the step's post).
    Per part: a point update of the sum at the chunk (every other chunk's
    count unchanged: extensionality), and the chunk's count of empty
    populated pages before (P) and after (P') split into what it keeps,
    gains (P' but not P) and loses (P but not P'), each matched to the
    counts of the part's counter move.  None at a fixed geometry, where the
    counts are unrolled."""
    if S.finite:
        return []
    out = []
    for k, (s, c) in enumerate(parts):
        after = parts[k + 1][0] if k + 1 < len(parts) else post
        out += _part_facts(S, s, after, c)
    return out


def _part_facts(S: Scope, s: PState, post: PState, c: Any) -> list[Any]:
    F, F2 = truth(S, s).arg(0), truth(S, post).arg(0)
    out = [
        _at("sm-point-update", S.K, F=F, j=c, n=F2[c]),
        _at("sm-extensional", S.K, F=F2, G=z3.Store(F, c, F2[c])),
    ]
    before = {t.get_id() for t in _counts(s.ctr)}
    moves = [m for m in _counts(post.ctr) if m.get_id() not in before]
    P, P2 = empty_populated(S, s, c).arg(0), empty_populated(S, post, c).arg(0)
    both = _pages(S, lambda pg: z3.Or(P[pg], P2[pg]))
    gained = _pages(S, lambda pg: z3.And(P2[pg], z3.Not(P[pg])))
    lost = _pages(S, lambda pg: z3.And(P[pg], z3.Not(P2[pg])))
    populated = _pages(S, lambda pg: s.pop[c][pg])
    out += [
        _at("cnt-add", S.PG, P=both, Q=P, R=gained),
        _at("cnt-add", S.PG, P=both, Q=P2, R=lost),
        _at("cnt-zero", S.PG, P=gained),
        _at("cnt-zero", S.PG, P=lost),
        _at("cnt-zero", S.PG, P=P2),
        _at("cnt-extensional", S.PG, P=P, Q=populated),
    ]
    for m in moves:
        X = m.arg(0)
        out += [_at("cnt-extensional", S.PG, P=X, Q=Q) for Q in (gained, lost, P)]
        out.append(_at("cnt-zero", S.PG, P=X))
    return out


def initial_facts(S: Scope, s: PState) -> list[Any]:
    """The instances the initial counter's proof reads: the sum of the
    first chunk's count alone, its populated empty pages its empty ones."""
    if S.finite:
        return []
    F = truth(S, s).arg(0)
    zero = z3.K(z3.IntSort(), z3.IntVal(0))
    only = z3.Store(zero, 0, F[0])
    empty = _pages(S, lambda pg: page_empty(S, s.amap[0], pg))
    return [
        _at("sm-zero", S.K, F=zero),
        _at("sm-point-update", S.K, F=zero, j=z3.IntVal(0), n=F[0]),
        _at("sm-extensional", S.K, F=F, G=only),
        _at("cnt-extensional", S.PG, P=empty_populated(S, s, 0).arg(0), Q=empty),
    ]


def implied_facts(S: Scope, s: PState) -> list[Any]:
    """What counter-nonnegative reads: the sum of counts at least 0, each
    count at least 0 (cnt-bounds at [0, pages) for every P)."""
    if S.finite:
        return []
    P = z3.Const("P", BoolArr)
    count = CNT(P, 0, S.PG)
    return [
        _at("sm-nonnegative", S.K, F=truth(S, s).arg(0)),
        z3.ForAll([P], count >= 0, patterns=[count]),
    ]
