"""The symbolic interpretation: the model's `Ops` on Z3 bit-vectors.

Every integer is a bit-vector of `Params.width` bits compared signed (the
width leaves room for the sign, so signed comparison is mathematical);
bitmaps are bit-vectors of the same width whose high bits stay zero.
Python constants are folded where both operands are constants, so a
formula only carries what depends on the state.
"""

from __future__ import annotations

from dataclasses import fields
from functools import reduce
from typing import Any, Sequence

import z3

from percpu_mc.model.params import Params
from percpu_mc.model.state import State, schema


class Z3Ops:
    def __init__(self, width: int):
        self.w = width

    # --- lifting ---------------------------------------------------------------
    def bv(self, v: Any) -> Any:
        return z3.BitVecVal(v, self.w) if isinstance(v, int) and not isinstance(v, bool) else v

    def boolean(self, v: Any) -> Any:
        return z3.BoolVal(v) if isinstance(v, bool) else v

    def ite(self, c: Any, a: Any, b: Any) -> Any:
        if c is True:
            return a
        if c is False:
            return b
        if a is b or (isinstance(a, (bool, int)) and type(a) is type(b) and a == b):
            return a
        if isinstance(a, bool) or isinstance(b, bool) or z3.is_bool(a) or z3.is_bool(b):
            return z3.If(c, self.boolean(a), self.boolean(b))
        return z3.If(c, self.bv(a), self.bv(b))

    def and_(self, *xs: Any) -> Any:
        if any(v is False for v in xs):
            return False
        rest = [v for v in xs if v is not True]
        return True if not rest else rest[0] if len(rest) == 1 else z3.And(*rest)

    def or_(self, *xs: Any) -> Any:
        if any(v is True for v in xs):
            return True
        rest = [v for v in xs if v is not False]
        return False if not rest else rest[0] if len(rest) == 1 else z3.Or(*rest)

    def not_(self, a: Any) -> Any:
        return (not a) if isinstance(a, bool) else z3.Not(a)

    def eq(self, a: Any, b: Any) -> Any:
        if isinstance(a, (bool, int)) and isinstance(b, (bool, int)):
            return a == b
        if isinstance(a, bool) or isinstance(b, bool) or z3.is_bool(a) or z3.is_bool(b):
            return self.boolean(a) == self.boolean(b)
        return self.bv(a) == self.bv(b)

    def lt(self, a: Any, b: Any) -> Any:
        if isinstance(a, int) and isinstance(b, int):
            return a < b
        return self.bv(a) < self.bv(b)  # bvslt: signed

    def le(self, a: Any, b: Any) -> Any:
        if isinstance(a, int) and isinstance(b, int):
            return a <= b
        return self.bv(a) <= self.bv(b)  # bvsle: signed

    def shl(self, a: Any, k: int, nbits: int) -> Any:
        return (a << k) & ((1 << nbits) - 1)  # bvshl on a bit-vector

    def lshr(self, a: Any, k: int) -> Any:
        return a >> k if isinstance(a, int) else z3.LShR(a, k)

    def bnot(self, a: Any, nbits: int) -> Any:
        return a ^ ((1 << nbits) - 1)

    def bit(self, a: Any, i: int) -> Any:
        if isinstance(a, int):
            return bool((a >> i) & 1)
        return z3.Extract(i, i, a) == 1

    def from_bits(self, bits: Sequence[Any]) -> Any:
        return reduce(lambda acc, ib: acc | self.ite(ib[1], 1 << ib[0], 0), enumerate(bits), 0)

    def popcount(self, a: Any, nbits: int) -> Any:
        if isinstance(a, int):
            return a.bit_count()
        return reduce(
            lambda acc, i: acc + z3.ZeroExt(self.w - 1, z3.Extract(i, i, a)),
            range(1, nbits),
            z3.ZeroExt(self.w - 1, z3.Extract(0, 0, a)),
        )

    def lowest_set(self, a: Any, nbits: int) -> Any:
        if isinstance(a, int):
            return (a & -a).bit_length() - 1 if a else nbits
        out: Any = nbits
        for i in reversed(range(nbits)):
            out = self.ite(self.bit(a, i), i, out)
        return out


def state_vars(p: Params, tag: str) -> State:
    """A State of fresh Z3 constants named `field[index]@tag`."""
    w = p.width
    vals: dict[str, Any] = {}
    for name, (kind, n) in schema(p).items():

        def mk(label: str) -> Any:
            return z3.Bool(label) if kind == "bool" else z3.BitVec(label, w)

        vals[name] = (
            mk(f"{name}@{tag}") if n is None else tuple(mk(f"{name}[{j}]@{tag}") for j in range(n))
        )
    return State(**vals)


def flat(s: State) -> list[tuple[str, Any]]:
    """(field label, value) for every scalar of a state."""
    out = []
    for f in fields(State):
        v = getattr(s, f.name)
        if isinstance(v, tuple):
            out += [(f"{f.name}[{j}]", e) for j, e in enumerate(v)]
        else:
            out.append((f.name, v))
    return out


def equal(x: Z3Ops, a: State, b: State) -> Any:
    """The two states are equal, field by field."""
    return z3.And(*[x.eq(va, vb) for (_, va), (_, vb) in zip(flat(a), flat(b))])


def decode(model: z3.ModelRef, s: State) -> State:
    """The concrete State a Z3 model gives a symbolic one."""
    vals: dict[str, Any] = {}
    for f in fields(State):
        v = getattr(s, f.name)
        conv = [_value(model, e) for e in v] if isinstance(v, tuple) else _value(model, v)
        vals[f.name] = tuple(conv) if isinstance(v, tuple) else conv
    return State(**vals)


def _value(model: z3.ModelRef, e: Any) -> Any:
    if isinstance(e, (bool, int)):
        return e
    v = model.eval(e, model_completion=True)
    return z3.is_true(v) if z3.is_bool(e) else v.as_signed_long()


class Fields:
    """Which fields of a template state (by `flat` index) an expression over
    it reads: a post-order walk of the expression DAG, memoized by node."""

    def __init__(self, s: State):
        self.index = {str(v): j for j, (_, v) in enumerate(flat(s))}
        # node id -> (node, its fields); holding the node keeps its id from being reused
        self.memo: dict[int, tuple[Any, frozenset[int]]] = {}

    def of(self, *exprs: Any) -> frozenset[int]:
        out: set[int] = set()
        for e in exprs:
            if z3.is_expr(e):
                out |= self.walk(e)
        return frozenset(out)

    def walk(self, root: Any) -> frozenset[int]:
        stack = [(root, False)]
        while stack:
            e, expanded = stack.pop()
            key = e.get_id()
            if key in self.memo:
                continue
            kids = e.children()
            if expanded or not kids:
                j = self.index.get(str(e)) if not kids and z3.is_const(e) else None
                acc = set() if j is None else {j}
                for c in kids:
                    acc |= self.memo[c.get_id()][1]
                self.memo[key] = (e, frozenset(acc))
            else:
                stack.append((e, True))
                stack.extend((c, False) for c in kids if c.get_id() not in self.memo)
        return self.memo[root.get_id()][1]
