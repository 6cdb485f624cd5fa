"""The packing of a state into 64-bit words, defined once: each flat slot
(a scalar field, or one element of a tuple field) in the bits its range in
model/domains.py needs, none for a slot no action writes; the same layout
reads and writes concrete states (`flatten`, `state`), emitted C values
(`values`, `assemble`: checker/engines/codegen.py) and packed words
(`unpack`, and pack()/unpack() of the module, `pack_code`).  With it the
saturated counter (`Saturation`, docs/model.md)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from percpu_mc.model.domains import Domain, domains
from percpu_mc.model.machine import Model
from percpu_mc.model.state import BOOL_FIELDS, State


@dataclass(frozen=True)
class Slot:
    """One scalar of the state: field, index in its tuple (None for a scalar
    field), domain, and where its bits go: `bits` from bit `offset` of the
    packed state, or none when the slot always holds `fixed`."""

    name: str
    index: int | None
    domain: Domain
    offset: int
    bits: int
    fixed: int = 0

    def admits(self, v: int) -> bool:
        d = self.domain
        return (
            v == self.fixed if not self.bits else (v in d.values if d.values else d.lo <= v <= d.hi)
        )

    def outside(self, v: int) -> str:
        """Why `v` cannot be packed here."""
        where = self.name if self.index is None else f"{self.name}[{self.index}]"
        d = self.domain
        span = (
            f"fixed value {self.fixed} (no action writes it)"
            if not self.bits
            else f"values {list(d.values)}"
            if d.values
            else f"range [{d.lo}, {d.hi}]"
        )
        return f"{where} = {v} is outside its {span} (model/domains.py)"


@dataclass(frozen=True)
class Saturation:
    """The counter's abstraction (docs/model.md, "The saturated counter"):
    a value below `floor` is stored as `floor`, which stands for every
    value at or below it; a state stored there is expanded from each of
    floor, floor - 1, ..., floor - `span` (a step moves the counter by at
    most `span`, every page of every chunk), its successors saturated
    again."""

    slot: int  # the flat slot of nr_empty_pop_pages
    floor: int
    span: int

    @staticmethod
    def of(model: Model, layout: Layout) -> Saturation | None:
        for j, sl in enumerate(layout.slots):
            if sl.name == "nr_empty_pop_pages" and sl.bits and not sl.domain.values:
                return Saturation(j, sl.domain.lo, model.p.nr_chunks * model.p.unit_pages)
        return None

    def clamp(self, flat: list[int]) -> list[int]:
        """`flat` with the counter saturated."""
        if flat[self.slot] < self.floor:
            flat = flat[:]
            flat[self.slot] = self.floor
        return flat


@dataclass(frozen=True)
class Layout:
    slots: tuple[Slot, ...]
    bits: int

    @property
    def words(self) -> int:
        """64-bit words of a packed state."""
        return max(1, -(-self.bits // 64))

    @property
    def bytes(self) -> int:
        """Bytes of a stored state: the packed words' low bytes that hold bits."""
        return max(1, -(-self.bits // 8))

    @staticmethod
    def of(model: Model, depth: int, fixed: dict[int, int] | None = None) -> Layout:
        """Fields in declaration order, each slot's bits right after the
        previous slot's (a slot may straddle two words); the slots in
        `fixed` (index: value) take no bits."""
        fixed = fixed or {}
        s0 = model.init()
        slots: list[Slot] = []
        offset = 0
        for name, dom in domains(model.p, depth).items():
            v = getattr(s0, name)
            for index in range(len(v)) if isinstance(v, tuple) else [None]:
                j = len(slots)
                bits = 0 if j in fixed else dom.bits
                slots.append(Slot(name, index, dom, offset, bits, fixed.get(j, 0)))
                offset += bits
        return Layout(tuple(slots), offset)

    def unpack(self, words: Any) -> list[int]:
        """The flat values of packed state `words` (unpack() of the module)."""
        n = int.from_bytes(b"".join(int(w).to_bytes(8, "little") for w in words), "little")
        out = []
        for sl in self.slots:
            e = n >> sl.offset & ((1 << sl.bits) - 1)
            out.append(
                sl.fixed
                if not sl.bits
                else sl.domain.values[e]
                if sl.domain.values
                else e + sl.domain.lo
            )
        return out

    def values(self, s: State) -> list[Any]:
        """The flat slots of `s`, whatever its values are (ints, C values)."""
        out = []
        for sl in self.slots:
            v = getattr(s, sl.name)
            out.append(v if sl.index is None else v[sl.index])
        return out

    def assemble(self, flat: list[Any]) -> State:
        """The state of flat slots `flat` (ints, C values)."""
        vals: dict[str, list[Any]] = {f.name: [] for f in fields(State)}
        for sl, v in zip(self.slots, flat):
            vals[sl.name].append(v)
        out: dict[str, Any] = {}
        for sl in self.slots:
            if sl.name not in out:
                seq = vals[sl.name]
                out[sl.name] = seq[0] if sl.index is None else tuple(seq)
        return State(**out)

    def flatten(self, s: State) -> list[int]:
        """The flat values of concrete state `s`."""
        return [int(v) for v in self.values(s)]

    def state(self, flat: Any) -> State:
        """The concrete state of flat values `flat` (booleans as bool)."""
        return self.assemble(
            [
                bool(v) if sl.name in BOOL_FIELDS else int(v)
                for sl, v in zip(self.slots, (int(f) for f in flat))
            ]
        )


def pack_code(layout: Layout) -> str:
    """pack() and unpack() of the module: a flat state to its words (0, or
    1 + the slot out of its range) and back."""
    out = [
        "static int pack(const int64_t *v, uint64_t *w) {",
        f"memset(w, 0, sizeof(uint64_t) * {layout.words});",
    ]
    for j, sl in enumerate(layout.slots):
        d = sl.domain
        word, shift = divmod(sl.offset, 64)
        if not sl.bits:
            out.append(f"if (v[{j}] != {sl.fixed}LL) return {j + 1};")
            continue
        if d.values:  # an enumerated domain: the value's index
            cases = " : ".join(f"v[{j}] == {val}LL ? {k}" for k, val in enumerate(d.values))
            out.append(f"{{ int64_t e = {cases} : -1; if (e < 0) return {j + 1};")
        else:
            out.append(f"if (v[{j}] < {d.lo}LL || v[{j}] > {d.hi}LL) return {j + 1};")
            out.append(f"{{ int64_t e = v[{j}] - ({d.lo}LL);")
        out.append(f"w[{word}] |= (uint64_t)e << {shift};")
        if shift + sl.bits > 64:  # straddles into the next word
            out.append(f"w[{word + 1}] |= (uint64_t)e >> {64 - shift};")
        out.append("}")
    out.append("return 0;\n}\n")
    out.append("static void unpack(const uint64_t *w, int64_t *v) {")
    for j, sl in enumerate(layout.slots):
        if not sl.bits:
            out.append(f"v[{j}] = {sl.fixed}LL;")
            continue
        word, shift = divmod(sl.offset, 64)
        mask = (1 << sl.bits) - 1
        bits = f"(w[{word}] >> {shift})"
        if shift + sl.bits > 64:
            bits = f"({bits} | (w[{word + 1}] << {64 - shift}))"
        field = f"(int64_t)({bits} & {mask}ULL)"
        if sl.domain.values:
            table = ", ".join(f"{val}LL" for val in sl.domain.values)
            out.append(f"{{ static const int64_t e[] = {{{table}}}; v[{j}] = e[{field}]; }}")
        else:
            out.append(f"v[{j}] = {field} + ({sl.domain.lo}LL);")
    out.append("}\n")
    return "\n".join(out)
