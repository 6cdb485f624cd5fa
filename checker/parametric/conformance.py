"""Conformance: the finite model's steps are steps of the parameterized
relation, at a given geometry.

At one spec's geometry the relation of relation.py is instantiated
(Scope.fixed: its quantifiers become conjunctions over the spec's indices),
and each finite step of model/ops.py's symbolic interpretation (the one BMC
unrolls, one query per action and choice combination) is mapped to the
parameterized state by `abstract` (abstraction.py): chunk, context and slot tuples become
arrays, a chunk's cell bitmap becomes a row of booleans, bit-vectors become
integers.  The query asks for a pre-state satisfying the instantiated
invariants (they hold in every reachable state once the proof and this
check both pass: by induction over the run, each finite step is a
parameterized one from a state satisfying them), a finite step from it
enabled, and no parameterized transition of the kind the finite action is
(`KINDS`) taking the abstract pre-state to the abstract post-state with
choices read off the finite step (`witness`).  The finite model's own
typing (`typed`: bitmaps within the unit, program counters and indices
within their ranges) is assumed in the
pre-state and checked in the post-state by the same query, so it is proved
inductive together with the instantiated invariants.  `unsat` for every query, and
the initial state's abstraction satisfying the parameterized initial
condition, make every reachable finite state's abstraction reachable in the
parameterized relation, so the invariants proved for every geometry hold in
the finite model there.

Separately, `survivors_imply` asks whether the finite lemmas that Houdini
keeps at the spec (checker/engines/strengthen.py) imply each instantiated
invariant: the finite proof and this one agree.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any, Callable

import z3

from percpu_mc.checker.engines.symbolic import Z3Ops, decode, state_vars
from percpu_mc.checker.parametric.abstraction import _bool, _int, abstract, agrees
from percpu_mc.checker.parametric.invariants import Invariant, all_invariants, uaf_invariants
from percpu_mc.checker.parametric.relation import initial, transitions
from percpu_mc.checker.parametric.scope import Design, PState, Scope, Transition
from percpu_mc.model.actions import Action
from percpu_mc.model.control import BalancePc
from percpu_mc.model.invariants import LEMMAS
from percpu_mc.model.machine import Model
from percpu_mc.model.ops import Concrete
from percpu_mc.model.params import Params, Switches
from percpu_mc.model.state import State, full, upd
from percpu_mc.model.vocabulary import Kind

# Which parameterized transitions a finite action of each kind may be.
KINDS: dict[Kind, tuple[str, ...]] = {
    Kind.ENABLE_ASYNC: ("stutter",),
    Kind.ALLOC_EXTEND: ("extend", "extend-fail"),
    Kind.ALLOC_RESTART: tuple(
        f"search[restart->{o}]" for o in ("extend", "area-populate", "area-done", "create", "fail")
    ),
    Kind.ALLOC_CREATE: tuple(
        f"search[{e}->{o}]"
        for e in ("create", "create-skip")
        for o in ("extend", "area-populate", "area-done", "create", "fail")
    ),
    Kind.ALLOC_POPULATE: ("populate", "populate-done", "populate-fail"),
    Kind.ALLOC_COUNTER: ("finish",),
    Kind.FREE: ("free",),
    Kind.BALANCE_START: ("balance-start",),
    Kind.BALANCE_COLLECT: ("balance-collect",),
    Kind.BALANCE_DESTROY: ("balance-destroy",),
    Kind.BALANCE_MAP_EXTEND_PICK: ("balance-ext-pick", "balance-ext-none"),
    Kind.BALANCE_MAP_EXTEND: ("balance-ext",),
    Kind.BALANCE_RETRY_POP: ("balance-retry-pop", "balance-retry-pop-end"),
    Kind.BALANCE_PICK: ("balance-pick", "balance-pick-none"),
    Kind.BALANCE_POPULATE: ("balance-populate", "balance-populate-next", "balance-populate-end"),
    Kind.BALANCE_CREATE: ("balance-create", "balance-create-fail"),
    Kind.MAP_EXTEND_START: ("map-extend-start",),
    Kind.MAP_EXTEND: ("map-extend",),
}
ALLOC_KINDS = {
    True: ("search[atomic->area]", "search[atomic->fail]"),
    False: tuple(
        f"search[nonatomic->{o}]"
        for o in ("extend", "area-populate", "area-done", "create", "fail")
    ),
}

# The switches the relation interprets: those of v4.13-counter-fix, and
# map_extension either way.
INTERPRETED = Switches(
    balance_work="free-and-populate",
    async_gate=True,
    atomic_fail_schedules=True,
    low_check_schedules=True,
    create_fail_unlocks_mutex=True,
    map_extension="balance-list",
    alloc_mutex="whole-call",
    counter_update="locked",
    occ_pages_subtracted="with-area",
)
# switches that only move what the relation leaves out (the balance work's
# scheduling and its population choices), or that with-area accounting
# makes moot (it counts the populated pages alone, at pcpu_alloc_area(), and
# a failed population gives back what free_percpu() would)
UNREAD = {
    "populate_fail_counter",
    "map_extension",
    "occ_pages_counts",
    "atomic_fail_sets_flag",
    "low_check_test",
    "free_schedules_balance",
    "alloc_population_counted",
    "populate_slot_offset",
    "atomic_fail_schedules",
    "low_check_schedules",
    "balance_spares_free",
}


# v4.13's counter (the negative control's): occ_pages subtracted after the
# population, which counts the pages it populates, a failed population
# giving nothing back
V4_13_COUNTER = {
    "occ_pages_subtracted": "after-population",
    "occ_pages_counts": "every-page",
    "alloc_population_counted": True,
    "populate_fail_counter": "ignored",
}


# the injected counter bugs the relation interprets (Design)
INJECTED = ("free_counts_pages", "occupied_tail_test", "atomic_fit_pop_only")


def design_of(p: Params) -> Design:
    """The relation's design for p's switches: the counter "with-area"
    (v4.13-counter-fix) or, with v4.13's switches, "after-population"."""
    sw = p.switches
    v413 = all(getattr(sw, k) == v for k, v in V4_13_COUNTER.items())
    return Design(
        sw.map_extension,
        "after-population" if v413 else "with-area",
        **{k: getattr(sw, k) for k in INJECTED},
    )


def unsupported(p: Params) -> list[str]:
    """The switches of p this relation does not interpret (empty: it does)."""
    out = []
    v413 = design_of(p).counter == "after-population"
    for f in fields(Switches):
        if f.name in UNREAD or f.name in INJECTED or (v413 and f.name in V4_13_COUNTER):
            continue
        if getattr(p.switches, f.name) != getattr(INTERPRETED, f.name):
            out.append(f"{f.name} = {getattr(p.switches, f.name)!r}")
    return out


def scope_of(p: Params) -> Scope:
    return Scope.fixed(
        p.nr_contexts,
        p.nr_contexts * p.live_per_context,
        p.nr_chunks,
        p.unit_cells,
        p.first_chunk_static_cells,
        p.has_reserved,
        p.cells_per_page,
    )


def witness(p: Params, a: Action, ch: dict[str, int], s: State, t: State, ta: PState) -> dict:
    """The parameterized transition's choices, read off a finite step."""
    x = Z3Ops(p.width)
    i = a.ctx if a.ctx is not None else 0
    lp = p.live_per_context
    mine = range(i * lp, (i + 1) * lp)
    new = [x.and_(x.not_(s.live[c]), t.live[c]) for c in range(p.nr_chunks)]
    n: Any = 0
    for c in reversed(range(p.nr_chunks)):
        n = x.ite(new[c], c, n)
    put = [x.and_(x.not_(s.live_valid[j]), t.live_valid[j]) for j in mine]
    h: Any = mine[0]
    for j, got in reversed(list(zip(mine, put))):
        h = x.ite(got, j, h)
    if a.context.index is not None and a.ctx is None:  # a chunk's map_extend_work
        c: Any = a.context.index
    elif a.kind in (Kind.BALANCE_PICK, Kind.BALANCE_MAP_EXTEND_PICK):
        c = t.balance_chunk
    elif a.kind == Kind.BALANCE_DESTROY:
        c = ch["chunk"]
    else:
        c = t.chunk[i]
    bpc = _int(t.balance_pc)
    w = {
        "i": z3.IntVal(i),
        "c": _int(c),
        "off": _int(t.off[i]),
        "size": _int(t.req_size[i]),
        "sched": ta.mep,
        "n": _int(n),
        "h": _int(h + ch["live"] if a.kind == Kind.FREE else h),
        "put": _bool(x.or_(*put)),
        "mv": ta.to_free,
        "destroy": bpc == int(BalancePc.DESTROY),
        "more": bpc == int(BalancePc.DESTROY),
        "go": bpc == int(BalancePc.EXT),
        "run": _bool(t.ext_running[c]) if isinstance(c, int) else z3.BoolVal(False),
        # the pages populated after the step, of the chunk populated
        "region": ta.pop[_int(t.balance_chunk if a.ctx is None else t.chunk[i])],
    }
    return w


@dataclass(frozen=True)
class StepCheck:
    action: str
    choices: dict[str, int]
    verdict: str  # unsat: the finite step is a parameterized one
    seconds: float
    detail: str = ""


@dataclass(frozen=True)
class Conformance:
    spec: str
    init_ok: bool
    steps: list[StepCheck]
    seconds: float

    @property
    def ok(self) -> bool:
        return self.init_ok and all(c.verdict == "unsat" for c in self.steps)


def check(
    name: str,
    p: Params,
    timeout_ms: int = 60_000,
    kinds: set[Kind] | None = None,
    design: Design | None = None,
    progress: Callable[[StepCheck], None] | None = None,
) -> Conformance:
    """Every finite step of spec `p` (named `name`) against the relation (of
    p's design unless given; only the actions of `kinds` if given)."""
    start = time.monotonic()
    bad = unsupported(p) + [why for _, why in p.validate()]
    if bad:
        raise ValueError(f"{name}: cannot check conformance: {'; '.join(bad)}")
    S = scope_of(p)
    model = Model(p)
    design = design or design_of(p)
    ext = design.map_extension
    rel = {t.name: t for t in transitions(design)}
    invs = all_invariants(ext == "balance-list")
    init = model.init()
    init_ok = _valid(initial(S, abstract(p, init, "init"))) and bool(typed(Concrete(), model, init))
    x = Z3Ops(p.width)
    s = state_vars(p, "pre")
    sa = abstract(p, s, "pre")
    pre = [inv.holds(S, sa) for inv in invs] + [x.boolean(typed(x, model, s))]
    out: list[StepCheck] = []
    # one solver: every query shares the pre-state and its assumptions
    sol = z3.Solver()
    sol.set("timeout", timeout_ms)
    sol.add(*pre)
    for a in model.actions:
        if kinds is not None and a.kind not in kinds:
            continue
        names = ALLOC_KINDS[a.atomic] if a.kind == Kind.ALLOC else KINDS[a.kind]
        for ch in model.choice_combos(a):
            g, t = model.step(x, s, a, ch)
            if g is False:
                continue
            ta = abstract(p, t, "post")
            w = witness(p, a, ch, s, t, ta)
            options = []
            for nm in names:
                if nm not in rel:
                    continue
                tr: Transition = rel[nm]
                guard, post = tr.fn(S, sa, {k: w[k] for k, _ in tr.choices})
                options.append(z3.And(guard, agrees(p, post, ta, design)))
            typed_post = x.boolean(typed(x, model, t))
            query = [x.boolean(g), z3.Not(z3.And(z3.Or(*options), typed_post))]
            t0 = time.monotonic()
            sol.push()
            sol.add(*query)
            r = sol.check()
            detail = _explain(sol.model(), p, s, t) if r == z3.sat else ""
            sol.pop()
            if r == z3.unknown:
                # the incremental solver gives up on some array-lambda
                # queries that a fresh one settles
                fresh = z3.Solver()
                fresh.set("timeout", timeout_ms)
                fresh.add(*pre, *query)
                r = fresh.check()
                detail = _explain(fresh.model(), p, s, t) if r == z3.sat else ""
            out.append(StepCheck(a.name, dict(ch), str(r), time.monotonic() - t0, detail))
            if progress is not None:
                progress(out[-1])
    return Conformance(name, init_ok, out, time.monotonic() - start)


def typed(x: Any, model: Model, s: State) -> Any:
    """The finite model's typing: the `domains` lemma of model/invariants.py
    but for its one conjunct on bound_map (the relation never reads
    bound_map, and its agreement with the areas handed out is the
    `area-map` lemma's, not a type), and the first and reserved chunks
    fully populated (chunk-lifecycle's first part: an atomic reserved
    request fits the reserved chunk's free cells and is placed in its
    populated ones, so without it the finite step places it nowhere)."""
    lemma = next(lm for lm in LEMMAS if lm.name == "domains")
    p = model.p
    immutable = [0] + ([p.reserved_index] if p.has_reserved else [])
    return x.and_(
        lemma.holds(x, model.kernel, upd(s, bound_map=s.alloc_map)),
        *[x.eq(s.populated[c], full(p.unit_pages)) for c in immutable],
    )


def _valid(f: Any) -> bool:
    sol = z3.Solver()
    sol.add(z3.Not(f))
    return sol.check() == z3.unsat


def _explain(m: z3.ModelRef, p: Params, s: State, t: State) -> str:
    """The finite pre- and post-state of a step the relation does not have."""
    return f"pre {decode(m, s)}; post {decode(m, t)}"


def survivors_imply(
    p: Params, lemmas: list[Any], invs: list[Invariant] | None = None
) -> dict[str, str]:
    """Per instantiated invariant, whether the finite lemmas `lemmas` (the
    Houdini survivors at p) imply it: `unsat` when they do."""
    S = scope_of(p)
    model = Model(p)
    x = Z3Ops(p.width)
    s = state_vars(p, "s")
    sa = abstract(p, s, "s")
    assumed = [x.boolean(lm.holds(x, model.kernel, s)) for lm in lemmas]
    out = {}
    for inv in (
        invs if invs is not None else uaf_invariants(p.switches.map_extension == "balance-list")
    ):
        sol = z3.Solver()
        sol.add(*assumed, z3.Not(inv.holds(S, sa)))
        out[inv.name] = str(sol.check())
    return out
