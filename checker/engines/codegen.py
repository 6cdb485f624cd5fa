"""The third interpretation of the model: `Ops` that emit C, and the
generator of a spec's C module from it (`Generator`).

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
from importlib import resources
from typing import Any, Sequence

from percpu_mc.checker.engines.layout import Layout, Saturation, pack_code
from percpu_mc.checker.engines.symmetry import canon_code
from percpu_mc.model.machine import Model
from percpu_mc.model.properties import Property
from percpu_mc.model.reduction import dead
from percpu_mc.model.state import BOOL_FIELDS, HISTORY_FIELDS, State

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


@dataclass(frozen=True)
class Operation:
    """What one compiled function does: action index and its choices."""

    action: int
    choices: dict[str, int]


# result_t, what search_run() reports (search.c fills it, compiled.py reads
# it): defined once, emitted into the module's source and into cffi's
# declarations (native.py, CDEF), so the two cannot disagree.
RESULT_FIELDS = (
    ("int64_t", "states", "stored"),
    ("int64_t", "transitions", ""),
    ("int", "depth", "levels fully expanded"),
    ("int", "exhaustive", "the frontier emptied"),
    ("int", "stopped", "the progress callback asked to stop"),
    ("int", "error", "0; 1: a field left its range; 2: out of memory; 3: state limit"),
    ("int", "error_field", "with error 1: the flat field"),
    ("int64_t", "error_value", ""),
    ("int64_t", "viol_index[{nprops}]", "-1, or the first state violating property p"),
    ("int64_t", "bytes", "memory held by the search at its end"),
    ("int64_t", "saturated", "successors whose counter was saturated"),
)


def result_t(nprops: int) -> str:
    """The C declaration of result_t for `nprops` properties."""
    lines = ["typedef struct {"]
    for ctype, name, what in RESULT_FIELDS:
        note = f" /* {what} */" if what else ""
        lines.append(f"    {ctype} {name.format(nprops=max(1, nprops))};{note}")
    lines.append("} result_t;")
    return "\n".join(lines) + "\n"


class Generator:
    """The C source of one spec's module."""

    def __init__(self, model: Model, props: list[Property], depth: int):
        self.model = model
        self.props = props
        self.depth = depth
        self.layout = Layout.of(model, depth)  # every slot packed, until source() knows better
        self.saturation: Saturation | None = None  # known with the final layout
        self.ops: list[Operation] = [
            Operation(ai, ch) for ai, a in enumerate(model.actions) for ch in model.choice_combos(a)
        ]
        self.history = [j for j, sl in enumerate(self.layout.slots) if sl.name in HISTORY_FIELDS]
        # the slots each history slot's update reads, over every operation
        self.updates: dict[int, set[int]] = {j: set() for j in self.history}
        self.written: set[int] = set()  # the slots some operation writes
        self.cones: list[set[int]] = []  # per property, the history slots it depends on

    def input_state(self, x: CEmit) -> State:
        """The state of an emitted function's input slots, `in[j]`."""
        return self.layout.assemble(
            [x.slot("in", j, sl.name in BOOL_FIELDS) for j, sl in enumerate(self.layout.slots)]
        )

    def operation(self, k: int, op: Operation) -> str:
        x = CEmit()
        s = self.input_state(x)
        a = self.model.actions[op.action]
        where = a.at(x, s)
        if where is False:
            return f"static int op_{k}(const int64_t *in, int64_t *out) {{ return 0; }}\n"
        head = x.lines[:]
        x.lines.clear()
        enabled, post = self.model.step(x, s, a, op.choices)
        if enabled is False:
            return f"static int op_{k}(const int64_t *in, int64_t *out) {{ return 0; }}\n"
        body = [f"static int op_{k}(const int64_t *restrict in, int64_t *restrict out) {{"]
        body += head
        if where is not True:
            body.append(f"if (!{x.lit(where)}) return 0;")
        body += x.lines
        if enabled is not True:
            body.append(f"if (!{x.lit(enabled)}) return 0;")
        body.append("memcpy(out, in, sizeof(int64_t) * NF);")
        flat_post = self.layout.values(post)
        for j, v in enumerate(flat_post):
            if not (isinstance(v, CVal) and v.code == f"in[{j}]"):
                body.append(f"out[{j}] = {x.lit(v)};")
                self.written.add(j)
            if j in self.updates:
                self.updates[j] |= x.reads(v)
        body.append("return 1;\n}\n")
        return "\n".join(body)

    def prop(self, k: int, p: Property) -> tuple[str, frozenset[int]]:
        """prop_k(), and the slots it reads."""
        x = CEmit()
        s = self.input_state(x)
        holds = p.holds(x, self.model.kernel, s)
        return "\n".join(
            [
                f"static int prop_{k}(const int64_t *in) {{",
                *x.lines,
                f"return {x.lit(holds)} ? 1 : 0;",
                "}\n",
            ]
        ), x.reads(holds)

    def cone(self, read: set[int]) -> set[int]:
        """The history slots in the cone of influence of slots `read` (those
        of the properties): the ones read, closed under the slots their
        updates read.  No action reads a history variable, so the others can
        be forgotten without changing any run of the slots that remain (as
        BMC leaves them out, checker/engines/bmc.py)."""
        keep = read & set(self.updates)
        todo = list(keep)
        while todo:
            for j in self.updates[todo.pop()] & set(self.updates):
                if j not in keep:
                    keep.add(j)
                    todo.append(j)
        return keep

    def fixed(self) -> dict[int, int]:
        """The slots that need no bits: those no operation writes, always
        at their initial value."""
        init = self.layout.flatten(self.model.init())
        return {j: init[j] for j in range(len(init)) if j not in self.written}

    def source(self) -> str:
        """The module's C source; afterwards `layout` is its packing and
        `cones` the history each property depends on."""
        if len(self.ops) >= 0xFFFF:
            raise ValueError(f"{len(self.ops)} operations: the compiled engine keeps at most 65534")
        if len(self.props) > 64:
            raise ValueError(f"{len(self.props)} properties: the compiled engine checks at most 64")
        ops = [self.operation(k, op) for k, op in enumerate(self.ops)]
        ops.append("typedef int (*op_fn)(const int64_t *, int64_t *);")
        ops.append(
            "static const op_fn OPS[NOPS] = {"
            + ", ".join(f"op_{k}" for k in range(len(self.ops)))
            + "};\n"
        )
        for k, p in enumerate(self.props):
            code, reads = self.prop(k, p)
            ops.append(code)
            self.cones.append(self.cone(set(reads)))
        self.layout = Layout.of(self.model, self.depth, self.fixed())
        nf, nw = len(self.layout.slots), self.layout.words
        hist = ", ".join(map(str, self.history)) or "0"
        self.saturation = Saturation.of(self.model, self.layout)
        sat = self.saturation or Saturation(-1, 0, 0)
        parts = [
            "#include <stdint.h>\n#include <stdlib.h>\n#include <string.h>\n",
            f"#define NF {nf}\n#define NW {nw}\n#define NB {self.layout.bytes}\n"
            f"#define NOPS {len(self.ops)}\n#define NPROPS {len(self.props)}\n"
            f"#define NH {len(self.history)}\nstatic const int HIST[] = {{{hist}}};\n"
            f"#define SAT_FIELD {sat.slot}\n#define SAT_FLOOR {sat.floor}LL\n"
            f"#define SAT_SPAN {sat.span}\n",
        ]
        parts.append(result_t(len(self.props)))
        parts += ops
        parts.append("typedef int (*prop_fn)(const int64_t *);")
        parts.append(
            "static const prop_fn PROPS[NPROPS > 0 ? NPROPS : 1] = {"
            + (", ".join(f"prop_{k}" for k in range(len(self.props))) or "0")
            + "};\n"
        )
        parts.append(pack_code(self.layout))
        parts.append(forget_code(self.layout))
        parts.append(canon_code(self.model, self.layout))
        parts.append(resources.files("percpu_mc.checker.engines").joinpath("search.c").read_text())
        return "\n".join(parts)


def forget_code(layout: Layout) -> str:
    """drop_history(): the history slots outside `keep` (bit h for
    HIST[h]) set to 0; forget(): those, then the dead locals
    (model/reduction.py, `dead`: locals of code not running, overwritten
    before they are next read), so states that differ only in them are
    stored once."""
    x = CEmit()
    s = layout.assemble(
        [x.slot("v", j, sl.name in BOOL_FIELDS) for j, sl in enumerate(layout.slots)]
    )
    assigns = []
    for j, sl in enumerate(layout.slots):
        is_dead = dead(x, s, sl.name, sl.index)
        if is_dead is not False:
            assigns.append(f"if ({x.lit(is_dead)}) v[{j}] = 0;")
    return "\n".join(
        [
            "static void drop_history(int64_t *v, uint64_t keep) {",
            "for (int h = 0; h < NH; h++) if (!(keep >> h & 1)) v[HIST[h]] = 0;",
            "}\n",
            "static void forget(int64_t *v, uint64_t keep) {",
            "drop_history(v, keep);",
            *x.lines,
            *assigns,
            "}\n",
        ]
    )
