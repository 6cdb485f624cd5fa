"""The state of the parameterized interpretation (checker/parametric/
relation.py): the geometry as `Scope` (free constants, or one spec's
numbers), the state as Z3 arrays indexed by integers (`PState`), the area
helpers the transitions share, and the shape of a transition."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields, replace
from typing import Any, Callable

import z3

from percpu_mc.model.state import AllocPc, BalancePc

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


class Scope:
    """The geometry, symbolic or fixed, and quantifiers over its index ranges:
    a Z3 ForAll guarded by the range (symbolic) or the conjunction over the
    range (fixed)."""

    def __init__(
        self,
        contexts: Any,
        slots: Any,
        chunks: Any,
        cells: Any,
        static: Any,
        reserved: Any,
        finite: bool,
    ):
        self.N, self.M, self.K, self.C = contexts, slots, chunks, cells
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
        return Scope(n, m, k, cells, st, r, False), p, constraints

    @staticmethod
    def fixed(
        contexts: int, slots: int, chunks: int, cells: int, static: int, reserved: bool
    ) -> Scope:
        return Scope(
            z3.IntVal(contexts),
            z3.IntVal(slots),
            z3.IntVal(chunks),
            z3.IntVal(cells),
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
class PState:
    # per chunk struct
    live: Any
    linked: Any
    to_free: Any
    mep: Any  # map_extend_pending: on pcpu_map_extend_chunks (or its work queued)
    ext_running: Any  # work-item map extension running past its need computation
    amap: Any  # cell in use, chunk -> cell -> bool
    # per allocating context
    pc: Any
    chunk: Any
    off: Any
    size: Any
    # per live allocation slot
    lv: Any
    lc: Any
    lo: Any
    ls: Any
    # globals
    mutex: Any
    bpc: Any
    bchunk: Any

    @staticmethod
    def fresh(tag: str) -> PState:
        sorts = {
            "live": BoolArr,
            "linked": BoolArr,
            "to_free": BoolArr,
            "mep": BoolArr,
            "ext_running": BoolArr,
            "amap": CellArr,
            "pc": IntArr,
            "chunk": IntArr,
            "off": IntArr,
            "size": IntArr,
            "lv": BoolArr,
            "lc": IntArr,
            "lo": IntArr,
            "ls": IntArr,
            "mutex": z3.IntSort(),
            "bpc": z3.IntSort(),
            "bchunk": z3.IntSort(),
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


def choice_const(name: str, sort: str, tag: str) -> Any:
    srt = {"int": z3.IntSort(), "bool": z3.BoolSort(), "set": BoolArr}[sort]
    return z3.Const(f"{name}#{tag}", srt)
