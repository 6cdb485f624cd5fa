"""The state of the parameterized interpretation (checker/parametric/
relation.py): the geometry as `Scope` (free constants, or one spec's
numbers), the state as Z3 arrays indexed by integers (`PState`), the area
helpers the transitions share, and the shape of a transition."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields, replace
from typing import Any, Callable

import z3

from percpu_mc.model.control import AllocPc, BalancePc

# pcpu_alloc() program counters holding pcpu_alloc_mutex under whole-call
# (6710e594f71c) and those holding an area of the chunk they name.
HOLD_PCS = (AllocPc.EXTEND, AllocPc.RESTART, AllocPc.CREATE, AllocPc.POPULATE)
AREA_PCS = (AllocPc.POPULATE, AllocPc.COUNTER)
BALANCE_HOLD_PCS = (
    BalancePc.DESTROY,
    BalancePc.EXT_PICK,
    BalancePc.EXT,
    BalancePc.RETRY_POP,
    BalancePc.PICK,
    BalancePc.POP,
    BalancePc.CREATE,
)

IntArr = z3.ArraySort(z3.IntSort(), z3.IntSort())
BoolArr = z3.ArraySort(z3.IntSort(), z3.BoolSort())
CellArr = z3.ArraySort(z3.IntSort(), BoolArr)

# The ghost count and sum (checker/parametric/counting.py defines them).
CNT = z3.Function("cnt", BoolArr, z3.IntSort(), z3.IntSort(), z3.IntSort())
SM = z3.Function("sm", IntArr, z3.IntSort(), z3.IntSort(), z3.IntSort())


def one(b: Any) -> Any:
    return z3.If(b, 1, 0)


class Scope:
    """The geometry, symbolic or fixed, and quantifiers over its index ranges:
    a Z3 ForAll guarded by the range (symbolic) or the conjunction over the
    range (fixed)."""

    def __init__(
        self,
        contexts: Any,
        slots: Any,
        chunks: Any,
        pages: Any,
        cpp: int,
        static: Any,
        reserved: Any,
        finite: bool,
    ):
        self.N, self.M, self.K, self.PG, self.CPP = contexts, slots, chunks, pages, cpp
        self.C = z3.IntVal(cpp * pages.as_long()) if finite else cpp * pages
        self.STATIC, self.R = static, reserved
        self.finite = finite
        self._fresh = itertools.count()

    @staticmethod
    def symbolic(cells_per_page: int) -> tuple[Scope, Any, list[Any]]:
        """Every geometry: (scope, pages a unit, the geometry constraints)."""
        n, m, k, p, st = z3.Ints("contexts live_slots chunks unit_pages static_cells")
        r = z3.Bool("has_reserved")
        cells = cells_per_page * p
        constraints = [n >= 1, m >= 1, p >= 1, k >= z3.If(r, 2, 1), 0 < st, st < cells]
        return Scope(n, m, k, p, cells_per_page, st, r, False), p, constraints

    @staticmethod
    def fixed(
        contexts: int,
        slots: int,
        chunks: int,
        cells: int,
        static: int,
        reserved: bool,
        cells_per_page: int = 2,
    ) -> Scope:
        return Scope(
            z3.IntVal(contexts),
            z3.IntVal(slots),
            z3.IntVal(chunks),
            z3.IntVal(cells // cells_per_page),
            cells_per_page,
            z3.IntVal(static),
            z3.BoolVal(reserved),
            True,
        )

    def _all(self, size: Any, f: Callable[[Any], Any], lo: Any = None, hi: Any = None) -> Any:
        if self.finite:
            parts = []
            for j in range(size.as_long()):
                v = z3.IntVal(j)
                body = f(v)
                if lo is not None:
                    body = z3.Implies(z3.And(lo <= v, v < hi), body)
                parts.append(body)
            return z3.And(*parts) if parts else z3.BoolVal(True)
        v = z3.Int(f"q{next(self._fresh)}")
        rng = [0 <= v, v < size] + ([lo <= v, v < hi] if lo is not None else [])
        return z3.ForAll([v], z3.Implies(z3.And(*rng), f(v)))

    def chunks(self, f: Callable[[Any], Any]) -> Any:
        return self._all(self.K, f)

    def contexts(self, f: Callable[[Any], Any]) -> Any:
        return self._all(self.N, f)

    def slots(self, f: Callable[[Any], Any]) -> Any:
        return self._all(self.M, f)

    def cells_in(self, lo: Any, hi: Any, f: Callable[[Any], Any]) -> Any:
        """f(k) for every cell k of the unit in [lo, hi)."""
        return self._all(self.C, f, lo, hi)

    def pages(self, f: Callable[[Any], Any]) -> Any:
        return self._all(self.PG, f)

    def page_cells(self, pg: Any) -> list[Any]:
        return [self.CPP * pg + r for r in range(self.CPP)]

    def count_pages(self, pred: Callable[[Any], Any]) -> Any:
        """How many pages of the unit satisfy pred: the ghost cnt(P, 0, pages)
        (checker/parametric/counting.py) for every geometry, its unrolling
        (what its definition gives on a fixed range) at one."""
        if self.finite:
            return z3.Sum(*[one(pred(z3.IntVal(j))) for j in range(self.PG.as_long())], 0)
        pg = z3.Int("pg")
        return CNT(z3.Lambda([pg], pred(pg)), 0, self.PG)

    def sum_chunks(self, f: Callable[[Any], Any]) -> Any:
        """The sum of f over the chunk structs: the ghost sm(F, 0, chunks)."""
        if self.finite:
            return z3.Sum(*[f(z3.IntVal(j)) for j in range(self.K.as_long())], 0)
        j = z3.Int("j")
        return SM(z3.Lambda([j], f(j)), 0, self.K)

    def chunk(self, c: Any) -> Any:
        return z3.And(0 <= c, c < self.K)

    def context(self, i: Any) -> Any:
        return z3.And(0 <= i, i < self.N)

    def slot(self, h: Any) -> Any:
        return z3.And(0 <= h, h < self.M)

    def normal(self, c: Any) -> Any:
        """Not the reserved chunk (it never sits on pcpu_slot[])."""
        return z3.Not(z3.And(self.R, c == 1))

    def dynamic(self, c: Any) -> Any:
        """A chunk struct pcpu_create_chunk() may use."""
        return z3.And(self.chunk(c), c >= z3.If(self.R, 2, 1))

    def balance_owner(self) -> Any:
        return self.N + 1


@dataclass(frozen=True)
class Design:
    """The switches the relation interprets: v4.13-counter-fix's by default;
    the others are the negative controls' (1a4d76076cda's work item, v4.13's
    counter, and the injected counter bugs rebuilt on v4.13-counter-fix)."""

    map_extension: str = "balance-list"  # or "work-item"
    counter: str = "with-area"  # or "after-population" (v4.13)
    free_counts_pages: bool = True
    occupied_tail_test: str = ">="
    atomic_fit_pop_only: bool = True


@dataclass(frozen=True)
class PState:
    # per chunk struct
    live: Any
    linked: Any
    to_free: Any
    mep: Any  # map_extend_pending: on pcpu_map_extend_chunks (or its work queued)
    ext_running: Any  # work-item map extension running past its need computation
    amap: Any  # cell in use, chunk -> cell -> bool
    pop: Any  # page populated, chunk -> page -> bool
    # per allocating context
    pc: Any
    chunk: Any
    off: Any
    size: Any
    occ: Any  # occ_pages (v4.13: counted at pcpu_alloc_area(), subtracted after)
    # per live allocation slot
    lv: Any
    lc: Any
    lo: Any
    ls: Any
    # globals
    mutex: Any
    bpc: Any
    bchunk: Any
    ctr: Any  # pcpu_nr_empty_pop_pages

    @staticmethod
    def fresh(tag: str) -> PState:
        sorts = {
            "live": BoolArr,
            "linked": BoolArr,
            "to_free": BoolArr,
            "mep": BoolArr,
            "ext_running": BoolArr,
            "amap": CellArr,
            "pop": CellArr,
            "pc": IntArr,
            "chunk": IntArr,
            "off": IntArr,
            "size": IntArr,
            "occ": IntArr,
            "lv": BoolArr,
            "lc": IntArr,
            "lo": IntArr,
            "ls": IntArr,
            "mutex": z3.IntSort(),
            "bpc": z3.IntSort(),
            "bchunk": z3.IntSort(),
            "ctr": z3.IntSort(),
        }
        return PState(**{n: z3.Const(f"{n}@{tag}", srt) for n, srt in sorts.items()})


def fields_of(s: PState) -> list[tuple[str, Any]]:
    return [(f.name, getattr(s, f.name)) for f in fields(PState)]


def upd(s: PState, **changes: Any) -> PState:
    return replace(s, **changes)


def in_area(k: Any, off: Any, size: Any) -> Any:
    return z3.And(off <= k, k < off + size)


def set_area(row: Any, off: Any, size: Any) -> Any:
    k = z3.Int("k!set")
    return z3.Lambda([k], z3.Or(row[k], in_area(k, off, size)))


def clear_area(row: Any, off: Any, size: Any) -> Any:
    k = z3.Int("k!clr")
    return z3.Lambda([k], z3.And(row[k], z3.Not(in_area(k, off, size))))


def area_ok(S: Scope, off: Any, size: Any) -> Any:
    """A well-formed area of the unit."""
    return z3.And(0 <= off, 1 <= size, off + size <= S.C)


def area_free(S: Scope, s: PState, c: Any, off: Any, size: Any) -> Any:
    """pcpu_alloc_area() may place [off, off + size) in chunk c."""
    return z3.And(
        area_ok(S, off, size),
        z3.Not(s.amap[c][off]),  # the instance the disjointness proofs need
        S.cells_in(off, off + size, lambda k: z3.Not(s.amap[c][k])),
    )


def touched(S: Scope, pg: Any, off: Any, size: Any) -> Any:
    """Page pg holds a cell of [off, off + size): it is in
    [PFN_DOWN(off), PFN_UP(off + size))."""
    return z3.And(off < S.CPP * (pg + 1), S.CPP * pg < off + size)


def page_empty(S: Scope, row: Any, pg: Any) -> Any:
    return z3.And(*[z3.Not(row[k]) for k in S.page_cells(pg)])


def others_free(S: Scope, row: Any, pg: Any, off: Any, size: Any) -> Any:
    """Every cell of page pg outside [off, off + size) is free: with the
    area, pcpu_count_occupied_pages() counts the page."""
    return z3.And(*[z3.Or(in_area(k, off, size), z3.Not(row[k])) for k in S.page_cells(pg)])


def occupied(
    S: Scope, s: PState, c: Any, off: Any, size: Any, populated_only: bool, tail: str = ">="
) -> Any:
    """pcpu_count_occupied_pages(): the pages [off, off + size) touches whose
    other cells are free (the populated ones only, as v4.14's accounting
    and v4.13-counter-fix count them at pcpu_alloc_area()).  `tail` ">" is
    the injected off-by-one: a page the area ends inside counts only if the
    free run goes on past it (the unit's end never does)."""
    row, pop = s.amap[c], s.pop[c]

    def hit(pg: Any) -> Any:
        out = [touched(S, pg, off, size), others_free(S, row, pg, off, size)]
        if populated_only:
            out.append(pop[pg])
        if tail == ">":
            last, nxt = S.CPP * (pg + 1) - 1, S.CPP * (pg + 1)
            past = z3.And(pg + 1 < S.PG, z3.Or(in_area(nxt, off, size), z3.Not(row[nxt])))
            out.append(z3.Or(in_area(last, off, size), past))
        return z3.And(*out)

    return S.count_pages(hit)


def area_populated(S: Scope, s: PState, c: Any, off: Any, size: Any) -> Any:
    """Every page of [off, off + size) is populated."""
    return S.pages(lambda pg: z3.Implies(touched(S, pg, off, size), s.pop[c][pg]))


def empty_populated(S: Scope, s: PState, c: Any) -> Any:
    """chunk c's populated pages with no cell in use, as a count."""
    return S.count_pages(lambda pg: z3.And(s.pop[c][pg], page_empty(S, s.amap[c], pg)))


def counted(S: Scope, s: PState, c: Any) -> Any:
    """What chunk c adds to pcpu_nr_empty_pop_pages: its empty populated
    pages if live and not the reserved chunk ('The reserved chunk doesn't
    contribute to the count')."""
    return z3.If(z3.And(s.live[c], S.normal(c)), empty_populated(S, s, c), 0)


def truth(S: Scope, s: PState) -> Any:
    """The number of empty populated pages pcpu_nr_empty_pop_pages stands for."""
    return S.sum_chunks(lambda j: counted(S, s, j))


def fully_free(S: Scope, s: PState, c: Any) -> Any:
    return S.cells_in(0, S.C, lambda k: z3.Not(s.amap[c][k]))


def in_slots(s: PState, c: Any) -> Any:
    """On a pcpu_slot[] list (the variant has no isolated chunks)."""
    return z3.And(s.live[c], s.linked[c])


Witness = dict[str, Any]
Step = tuple[Any, PState]


@dataclass(frozen=True)
class Transition:
    """One step of the parameterized relation: guard and successor given its
    choices (sorts: int, bool, set = a chunk-indexed bool array)."""

    name: str
    kernel: str  # the kernel code it stands for
    choices: tuple[tuple[str, str], ...]
    fn: Callable[[Scope, PState, Witness], Step]
    # the chunks whose cells or pages it changes, each with the state before
    # its change (the next one's is the state after it), for the counting
    # lemmas' instances: every other chunk's count stays as it was
    touches: Callable[[Scope, PState, Witness], list[tuple[PState, Any]]] = lambda S, s, w: []


def choice_const(name: str, sort: str, tag: str) -> Any:
    srt = {"int": z3.IntSort(), "bool": z3.BoolSort(), "set": BoolArr}[sort]
    return z3.Const(f"{name}#{tag}", srt)
