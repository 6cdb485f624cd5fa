"""The third interpretation of the model: `Ops` that emit C.

As checker/engines/symbolic.py runs the one model definition on Z3 terms,
`CEmit` runs it on C expressions: every operation appends one assignment to
a temporary and returns its name, so the Python object graph the model
builds (shared sub-terms included) becomes straight-line C of the same
size.  Choices are Python constants when an action is emitted, so each
(action, choice combination) compiles to its own specialised function, and
constants are folded as the other interpretations fold them.

C integers are int64_t and compare signed, as the model's integers are
mathematical (the ranges of model/domains.py are far inside int64).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

# the temporaries and state slots (`in[3]`, `v[3]`) an emitted expression names
_OPERAND = re.compile(r"\b(t\d+)\b|\b[a-z]+\[(\d+)\]")


@dataclass(eq=False)
class CVal:
    """A C expression (a temporary or a state slot); `boolean` marks 0/1 values,
    `reads` the state slots (flat indices) its value depends on."""

    code: str
    boolean: bool
    emit: CEmit = field(repr=False)
    reads: frozenset[int] = frozenset()

    def __bool__(self) -> bool:
        raise TypeError("a C value has no Python truth value: the model must use Ops.ite")

    def _bin(self, op: str, other: Any, swap: bool = False) -> Any:
        a, b = (other, self) if swap else (self, other)
        return self.emit.tmp(f"{self.emit.lit(a)} {op} {self.emit.lit(b)}", False)

    def __and__(self, o: Any) -> Any:
        return self._bin("&", o)

    def __rand__(self, o: Any) -> Any:
        return self._bin("&", o, True)

    def __or__(self, o: Any) -> Any:
        return self._bin("|", o)

    def __ror__(self, o: Any) -> Any:
        return self._bin("|", o, True)

    def __xor__(self, o: Any) -> Any:
        return self._bin("^", o)

    def __rxor__(self, o: Any) -> Any:
        return self._bin("^", o, True)

    def __add__(self, o: Any) -> Any:
        return self._bin("+", o)

    def __radd__(self, o: Any) -> Any:
        return self._bin("+", o, True)

    def __sub__(self, o: Any) -> Any:
        return self._bin("-", o)

    def __rsub__(self, o: Any) -> Any:
        return self._bin("-", o, True)

    def __mul__(self, o: Any) -> Any:
        return self._bin("*", o)

    def __rmul__(self, o: Any) -> Any:
        return self._bin("*", o, True)

    def __lshift__(self, o: Any) -> Any:
        return self._bin("<<", o)

    def __rshift__(self, o: Any) -> Any:
        return self._bin(">>", o)

    def __neg__(self) -> Any:
        return self.emit.tmp(f"-{self.code}", False)


class CEmit:
    """`Ops` whose values are C expressions; `lines` holds the emitted body."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.n = 0
        self.temps: dict[str, frozenset[int]] = {}  # temporary -> the slots it reads

    def slot(self, var: str, j: int, boolean: bool) -> CVal:
        """State slot j of the array `var`."""
        return CVal(f"{var}[{j}]", boolean, self, frozenset({j}))

    def tmp(self, expr: str, boolean: bool) -> CVal:
        name = f"t{self.n}"
        self.n += 1
        self.lines.append(f"const int64_t {name} = {expr};")
        reads: set[int] = set()
        for temp, j in _OPERAND.findall(expr):
            reads |= self.temps[temp] if temp else {int(j)}
        self.temps[name] = frozenset(reads)
        return CVal(name, boolean, self, self.temps[name])

    @staticmethod
    def reads(v: Any) -> frozenset[int]:
        """The state slots value `v` depends on (none for a constant)."""
        return v.reads if isinstance(v, CVal) else frozenset()

    @staticmethod
    def lit(v: Any) -> str:
        if isinstance(v, CVal):
            return v.code
        if isinstance(v, bool):
            return "1" if v else "0"
        if isinstance(v, int):
            return f"{v}LL"
        raise TypeError(f"not a C value: {v!r}")

    @staticmethod
    def is_bool(v: Any) -> bool:
        return isinstance(v, bool) or (isinstance(v, CVal) and v.boolean)

    def ite(self, c: Any, a: Any, b: Any) -> Any:
        if c is True:
            return a
        if c is False:
            return b
        if a is b or (
            not isinstance(a, CVal) and not isinstance(b, CVal) and type(a) is type(b) and a == b
        ):
            return a
        boolean = self.is_bool(a) or self.is_bool(b)
        return self.tmp(f"{self.lit(c)} ? {self.lit(a)} : {self.lit(b)}", boolean)

    def and_(self, *xs: Any) -> Any:
        if any(v is False for v in xs):
            return False
        rest = [v for v in xs if v is not True]
        if not rest:
            return True
        if len(rest) == 1:
            return rest[0]
        return self.tmp(" && ".join(self.lit(v) for v in rest), True)

    def or_(self, *xs: Any) -> Any:
        if any(v is True for v in xs):
            return True
        rest = [v for v in xs if v is not False]
        if not rest:
            return False
        if len(rest) == 1:
            return rest[0]
        return self.tmp(" || ".join(self.lit(v) for v in rest), True)

    def not_(self, a: Any) -> Any:
        return (not a) if isinstance(a, bool) else self.tmp(f"!{self.lit(a)}", True)

    def eq(self, a: Any, b: Any) -> Any:
        if not isinstance(a, CVal) and not isinstance(b, CVal):
            return a == b
        return self.tmp(f"{self.lit(a)} == {self.lit(b)}", True)

    def lt(self, a: Any, b: Any) -> Any:
        if not isinstance(a, CVal) and not isinstance(b, CVal):
            return a < b
        return self.tmp(f"{self.lit(a)} < {self.lit(b)}", True)

    def le(self, a: Any, b: Any) -> Any:
        if not isinstance(a, CVal) and not isinstance(b, CVal):
            return a <= b
        return self.tmp(f"{self.lit(a)} <= {self.lit(b)}", True)

    def shl(self, a: Any, k: int, nbits: int) -> Any:
        mask = (1 << nbits) - 1
        if not isinstance(a, CVal):
            return (a << k) & mask
        return self.tmp(f"({a.code} << {k}) & {mask}LL", False)

    def lshr(self, a: Any, k: int) -> Any:
        if not isinstance(a, CVal):
            return a >> k
        return self.tmp(f"{a.code} >> {k}", False)

    def bnot(self, a: Any, nbits: int) -> Any:
        mask = (1 << nbits) - 1
        if not isinstance(a, CVal):
            return a ^ mask
        return self.tmp(f"{a.code} ^ {mask}LL", False)

    def bit(self, a: Any, i: int) -> Any:
        if not isinstance(a, CVal):
            return bool((a >> i) & 1)
        return self.tmp(f"({a.code} >> {i}) & 1", True)

    def from_bits(self, bits: Sequence[Any]) -> Any:
        const = sum(1 << i for i, b in enumerate(bits) if b is True)
        terms = [f"({self.lit(b)} << {i})" for i, b in enumerate(bits) if isinstance(b, CVal)]
        if not terms:
            return const
        return self.tmp(" | ".join(terms + [f"{const}LL"]), False)

    def popcount(self, a: Any, nbits: int) -> Any:
        if not isinstance(a, CVal):
            return a.bit_count()
        return self.tmp(f"__builtin_popcountll((uint64_t){a.code})", False)

    def lowest_set(self, a: Any, nbits: int) -> Any:
        if not isinstance(a, CVal):
            return (a & -a).bit_length() - 1 if a else nbits
        return self.tmp(f"{a.code} ? __builtin_ctzll((uint64_t){a.code}) : {nbits}", False)
