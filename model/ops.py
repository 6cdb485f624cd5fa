"""The small expression interface every action is written against.

The model is written once; it runs on `Concrete` values (Python ints and
bools: explicit search, replay, tests) and on symbolic ones (Z3 bit-vectors,
in checker/engines/symbolic.py).  Rules that keep the two interpretations equal:

* never branch with a Python `if` on a state value: use `ite`;
* integers are mathematical (the symbolic side is wide enough, see
  `Params.width`): compare with `lt`/`le` (signed), never a bare `<`;
* bitmaps (cell or page sets) are non-negative integers below 2**nbits:
  shift left with `shl` and complement with `bnot`, which mask.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

Val = Any  # an int-like value: int or z3 BitVecRef
Bool = Any  # a bool-like value: bool or z3 BoolRef


class Ops(Protocol):
    def ite(self, c: Bool, a: Any, b: Any) -> Any: ...
    def and_(self, *xs: Bool) -> Bool: ...
    def or_(self, *xs: Bool) -> Bool: ...
    def not_(self, a: Bool) -> Bool: ...
    def eq(self, a: Any, b: Any) -> Bool: ...
    def lt(self, a: Val, b: Val) -> Bool: ...  # signed
    def le(self, a: Val, b: Val) -> Bool: ...  # signed
    def shl(self, a: Val, k: int, nbits: int) -> Val: ...
    def lshr(self, a: Val, k: int) -> Val: ...
    def bnot(self, a: Val, nbits: int) -> Val: ...
    def bit(self, a: Val, i: int) -> Bool: ...
    def from_bits(self, bits: Sequence[Bool]) -> Val: ...
    def popcount(self, a: Val, nbits: int) -> Val: ...
    def lowest_set(self, a: Val, nbits: int) -> Val: ...


class Concrete:
    """Python values; `ite` evaluates eagerly, so every branch must be total."""

    def ite(self, c: bool, a: Any, b: Any) -> Any:
        return a if c else b

    def and_(self, *xs: bool) -> bool:
        return all(xs)

    def or_(self, *xs: bool) -> bool:
        return any(xs)

    def not_(self, a: bool) -> bool:
        return not a

    def eq(self, a: Any, b: Any) -> bool:
        return a == b

    def lt(self, a: int, b: int) -> bool:
        return a < b

    def le(self, a: int, b: int) -> bool:
        return a <= b

    def shl(self, a: int, k: int, nbits: int) -> int:
        return (a << k) & ((1 << nbits) - 1)

    def lshr(self, a: int, k: int) -> int:
        return a >> k

    def bnot(self, a: int, nbits: int) -> int:
        return a ^ ((1 << nbits) - 1)

    def bit(self, a: int, i: int) -> bool:
        return bool((a >> i) & 1)

    def from_bits(self, bits: Sequence[bool]) -> int:
        return sum(1 << i for i, b in enumerate(bits) if b)

    def popcount(self, a: int, nbits: int) -> int:
        return a.bit_count()

    def lowest_set(self, a: int, nbits: int) -> int:
        """Index of the lowest set bit; `nbits` when none is set."""
        return (a & -a).bit_length() - 1 if a else nbits


def select(x: Ops, items: Sequence[Any], idx: Val) -> Any:
    """items[idx] for a possibly symbolic index (out of range: items[-1])."""
    if isinstance(idx, int):
        return items[idx]
    out = items[-1]
    for i in range(len(items) - 2, -1, -1):
        out = x.ite(x.eq(idx, i), items[i], out)
    return out


def store(x: Ops, items: tuple, idx: Val, val: Any) -> tuple:
    """items with items[idx] = val, for a possibly symbolic index."""
    if isinstance(idx, int):
        return items[:idx] + (val,) + items[idx + 1 :]
    return tuple(x.ite(x.eq(idx, i), val, old) for i, old in enumerate(items))


def one_of(x: Ops, v: Val, values: Any) -> Any:
    """v is one of `values` (ints or IntEnum members)."""
    return x.or_(*[x.eq(v, int(e)) for e in values])


def implies(x: Ops, a: Any, b: Any) -> Any:
    return x.or_(x.not_(a), b)


def match(x: Ops, key: Val, cases: dict[int, Any]) -> Any:
    """cases[key]; a key outside the cases gets the last one (as the
    symbolic if-then-else chain does)."""
    if isinstance(key, int):
        return cases.get(key, cases[list(cases)[-1]])
    ks = list(cases)
    out = cases[ks[-1]]
    for k in reversed(ks[:-1]):
        out = x.ite(x.eq(key, k), cases[k], out)
    return out
