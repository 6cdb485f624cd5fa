"""The model compiled to native code: one C module per spec, built with the
system C compiler and loaded through cffi.

C through cffi because the model already has an expression interface whose
values can be C text (checker/engines/codegen.py), the system compiler is on
every machine of this kind, and cffi is the well-kept way to call C from
CPython without writing an extension module.  The module holds one
straight-line function per (action, choice combination) and per property,
the packing of a state into a bit string (each field in the bits its range
in model/domains.py needs; none for a field no action writes), the
canonical form under the symmetry of the allocating contexts and of the
dynamic chunk structs, and the breadth-first search of search.c.  Built modules are cached by the hash of
their source, so a spec compiles once per machine.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, fields
from importlib import resources
from operator import or_
from pathlib import Path
from typing import Any

import cffi

from percpu_mc.checker.engines.codegen import CEmit, CVal
from percpu_mc.model.domains import Domain, Group, Names, domains
from percpu_mc.model.machine import Model
from percpu_mc.model.properties import Property
from percpu_mc.model.reduction import dead
from percpu_mc.model.state import BOOL_FIELDS, HISTORY_FIELDS, MUTEX_FREE, State, alloc_owner

CDEF = """
typedef struct {
    int64_t states; int64_t transitions; int depth; int exhaustive; int stopped;
    int error; int error_field; int64_t error_value; int64_t viol_index[%d]; int64_t bytes;
    int64_t saturated;
} result_t;
typedef int (*progress_cb)(int depth, int64_t states, int64_t bytes);
typedef struct search_t search_t;
search_t *search_new(void);
void search_free(search_t *s);
int search_cover(search_t *s, const int32_t *group, int ngroups, int64_t *enabled,
                 int64_t *taken);
int search_run(search_t *s, const int64_t *init, int max_depth, int reduce, int64_t max_states,
               uint64_t keep, uint64_t check, progress_cb cb, result_t *r);
int64_t search_parent(const search_t *s, int64_t idx);
void search_state(const search_t *s, int64_t idx, int64_t *v);
int step_all(const int64_t *v, int32_t *ops, int64_t *outs);
void props_hold(const int64_t *v, int32_t *out);
int words_per_state(void);
int canonical_words(const int64_t *v, uint64_t keep, uint64_t *w);
int64_t batch_expand(const uint64_t *in, int64_t n, int reduce, uint64_t keep, uint64_t *out,
                     int64_t *from, uint16_t *ops, int64_t max_out);
int batch_insert(search_t *s, const uint64_t *in, int64_t n, int64_t *fresh);
void batch_state(const search_t *s, int64_t idx, int64_t n, uint64_t *out);
void batch_violations(const uint64_t *in, int64_t n, uint64_t *mask);
int batch_pack(const int64_t *v, int reduce, uint64_t keep, uint64_t *out);
int64_t search_size(const search_t *s);
int64_t search_bytes(const search_t *s);
void batch_route(const uint64_t *in, const int64_t *from, const uint16_t *ops, int64_t n,
                 int parts, uint64_t *out, int64_t *out_from, uint16_t *out_ops, int64_t *counts);
"""


class CompilerMissing(RuntimeError):
    """No C compiler: the compiled engine cannot be built here."""


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

    def flatten(self, s: State) -> list[int]:
        out = []
        for sl in self.slots:
            v = getattr(s, sl.name)
            out.append(int(v if sl.index is None else v[sl.index]))
        return out

    def state(self, flat: Any) -> State:
        vals: dict[str, Any] = {}
        for f in fields(State):
            vals[f.name] = []
        for j, sl in enumerate(self.slots):
            v = int(flat[j])
            if sl.domain.lo == 0 and sl.domain.hi == 1 and sl.name in BOOL_FIELDS:
                v = bool(v)
            vals[sl.name].append(v)
        out = {}
        for sl in self.slots:
            if sl.name not in out:
                seq = vals[sl.name]
                out[sl.name] = seq[0] if sl.index is None else tuple(seq)
        return State(**out)


@dataclass(frozen=True)
class Symmetry:
    """A permutation of the contexts, a relabelling of the chunk structs,
    and per context a permutation of its live-allocation slots."""

    sigma: tuple[int, ...]
    chunk_map: dict[int, int]
    live: tuple[tuple[int, ...], ...]

    def identity(self) -> bool:
        return (
            all(i == s for i, s in enumerate(self.sigma))
            and all(k == v for k, v in self.chunk_map.items())
            and all(all(i == s for i, s in enumerate(perm)) for perm in self.live)
        )


@dataclass(frozen=True)
class Operation:
    """What one compiled function does: action index and its choices."""

    action: int
    choices: dict[str, int]


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

    def input_state(self, x: CEmit, var: str) -> State:
        vals: dict[str, list[CVal]] = {}
        for j, sl in enumerate(self.layout.slots):
            vals.setdefault(sl.name, []).append(x.slot(var, j, sl.name in BOOL_FIELDS))
        out: dict[str, Any] = {}
        for sl in self.layout.slots:
            if sl.name not in out:
                seq = vals[sl.name]
                out[sl.name] = seq[0] if sl.index is None else tuple(seq)
        return State(**out)

    def operation(self, k: int, op: Operation) -> str:
        x = CEmit()
        s = self.input_state(x, "in")
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
        flat_post = self._flat_values(post)
        for j, v in enumerate(flat_post):
            if not (isinstance(v, CVal) and v.code == f"in[{j}]"):
                body.append(f"out[{j}] = {x.lit(v)};")
                self.written.add(j)
            if j in self.updates:
                self.updates[j] |= x.reads(v)
        body.append("return 1;\n}\n")
        return "\n".join(body)

    def _flat_values(self, s: State) -> list[Any]:
        out = []
        for sl in self.layout.slots:
            v = getattr(s, sl.name)
            out.append(v if sl.index is None else v[sl.index])
        return out

    def prop(self, k: int, p: Property) -> tuple[str, frozenset[int]]:
        """prop_k(), and the slots it reads."""
        x = CEmit()
        s = self.input_state(x, "in")
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

    def pack_code(self) -> str:
        out = [
            "static int pack(const int64_t *v, uint64_t *w) {",
            f"memset(w, 0, sizeof(uint64_t) * {self.layout.words});",
        ]
        for j, sl in enumerate(self.layout.slots):
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
        for j, sl in enumerate(self.layout.slots):
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

    def symmetries(self) -> list[Symmetry]:
        """Every symmetry but the identity: the allocating contexts are
        interchangeable, and so are the dynamic chunk structs (the first and
        reserved chunks stay put) and the live-allocation slots of one
        context (a slot records nothing but its area)."""
        p = self.model.p
        dyn = list(range(p.first_dynamic, p.nr_chunks))
        slots = list(itertools.permutations(range(p.live_per_context)))
        out = []
        for sigma in itertools.permutations(range(p.nr_contexts)):
            for tau in itertools.permutations(dyn):
                chunk_map = {c: c for c in range(p.first_dynamic)} | dict(zip(dyn, tau))
                for live in itertools.product(slots, repeat=p.nr_contexts):
                    sym = Symmetry(sigma, chunk_map, live)
                    if not sym.identity():
                        out.append(sym)
        return out

    def moves(self, sym: Symmetry) -> list[tuple[int, dict[int, int]]]:
        """One symmetry as data: for each flat slot, the slot its value comes
        from and the renaming of that value.  Position i (context) or c
        (chunk) takes what sat at sigma[i] or chunk_map[c], and a value that
        names a context or a chunk is renamed the opposite way."""
        p = self.model.p
        per_live = p.live_per_context
        index = {(sl.name, sl.index): j for j, sl in enumerate(self.layout.slots)}
        owner = {MUTEX_FREE: MUTEX_FREE} | {
            alloc_owner(i): alloc_owner(sym.sigma[i]) for i in range(p.nr_contexts)
        }
        out = []
        for sl in self.layout.slots:
            g, src = sl.domain.group, sl.index
            if g is Group.CHUNK:
                src = sym.chunk_map[sl.index]
            elif g is Group.CONTEXT:
                src = sym.sigma[sl.index]
            elif g is Group.LIVE:
                i, k = divmod(sl.index, per_live)
                src = sym.sigma[i] * per_live + sym.live[i][k]
            names = {Names.CHUNK: sym.chunk_map, Names.OWNER: owner}.get(sl.domain.names, {})
            rename = {b: a for a, b in names.items() if a != b}
            out.append((index[(sl.name, src)], rename))
        return out

    def forget_code(self) -> str:
        """drop_history(): the history slots outside `keep` (bit h for
        HIST[h]) set to 0; forget(): those, then the dead locals
        (model/reduction.py, `dead`: locals of code not running, overwritten
        before they are next read), so states that differ only in them are
        stored once."""
        x = CEmit()
        s = self.input_state(x, "v")
        assigns = []
        for j, sl in enumerate(self.layout.slots):
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

    def canon_code(self) -> str:
        """canon_pack(): the least packed form over the symmetry group, the
        history outside `keep` and the dead locals forgotten."""
        out = [
            "static int canon_pack(const int64_t *in, uint64_t keep, uint64_t *w) {",
            "int64_t v[NF]; memcpy(v, in, sizeof(v)); forget(v, keep);",
            "int bad = pack(v, w); if (bad) return bad;",
            f"int64_t u[NF]; uint64_t c[{self.layout.words}];",
        ]
        for sym in self.symmetries():
            for j, (src, rename) in enumerate(self.moves(sym)):
                expr = f"v[{src}]"
                if rename:
                    cases = " : ".join(f"{expr} == {b} ? {a}" for b, a in rename.items())
                    expr = f"({cases} : {expr})"
                out.append(f"u[{j}] = {expr};")
            out.append("pack(u, c);")
            out.append("if (memcmp(c, w, sizeof(c)) < 0) memcpy(w, c, sizeof(c));")
        out.append("return 0;\n}\n")
        return "\n".join(out)

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
        parts += ops
        parts.append("typedef int (*prop_fn)(const int64_t *);")
        parts.append(
            "static const prop_fn PROPS[NPROPS > 0 ? NPROPS : 1] = {"
            + (", ".join(f"prop_{k}" for k in range(len(self.props))) or "0")
            + "};\n"
        )
        parts.append(self.pack_code())
        parts.append(self.forget_code())
        parts.append(self.canon_code())
        parts.append(resources.files("percpu_mc.checker.engines").joinpath("search.c").read_text())
        return "\n".join(parts)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "percpu-mc"


def compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise CompilerMissing(
            "the compiled explicit engine needs a C compiler (cc or gcc; "
            "Debian: apt-get install gcc); --engine explicit-python runs "
            "the pure-Python engine without one"
        )
    return cc


def build(source: str) -> Path:
    """The shared object of `source`, compiled once and cached by its hash."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    target = cache_dir() / f"model-{digest}.so"
    if target.exists():
        return target
    cc = compiler()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "model.c"
        src.write_text(source)
        out = Path(tmp) / "model.so"
        done = subprocess.run(
            [cc, "-O1", "-shared", "-fPIC", "-w", "-o", str(out), str(src)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise CompilerMissing(f"{cc} failed on the generated model: {done.stderr[:2000]}")
        # a rename within the cache directory, so a concurrent run never loads half a file
        fd, part = tempfile.mkstemp(dir=target.parent, suffix=".so.tmp")
        os.close(fd)
        shutil.copyfile(out, part)
        os.replace(part, target)
    return target


@dataclass
class Native:
    """One spec's compiled module, loaded."""

    model: Model
    props: list[Property]
    layout: Layout
    ops: list[Operation]
    cones: list[int]  # per property, the history it depends on: bit h for HIST[h]
    keep_all: int  # the history some property depends on
    keep_every: int  # every history slot
    ffi: cffi.FFI
    lib: Any
    saturation: Saturation | None = None

    @staticmethod
    def load(model: Model, props: list[Property], depth: int) -> Native:
        gen = Generator(model, props, depth)
        path = build(gen.source())
        ffi = cffi.FFI()
        ffi.cdef(CDEF % max(1, len(props)))
        cones = [sum(1 << h for h, j in enumerate(gen.history) if j in cone) for cone in gen.cones]
        return Native(
            model,
            props,
            gen.layout,
            gen.ops,
            cones,
            functools.reduce(or_, cones, 0),
            (1 << len(gen.history)) - 1,
            ffi,
            ffi.dlopen(str(path)),
            gen.saturation,
        )

    def successors(self, s: State) -> list[tuple[Operation, State]]:
        """Every enabled step of `s`, stepped natively."""
        ffi, n = self.ffi, len(self.layout.slots)
        v = ffi.new("int64_t[]", self.layout.flatten(s))
        ops = ffi.new("int32_t[]", len(self.ops))
        outs = ffi.new("int64_t[]", len(self.ops) * n)
        k = self.lib.step_all(v, ops, outs)
        return [(self.ops[ops[i]], self.layout.state(outs[i * n : (i + 1) * n])) for i in range(k)]

    def canonical(self, s: State) -> tuple[int, ...]:
        """The packed representative of `s`'s class (dead locals forgotten)."""
        w = self.ffi.new("uint64_t[]", self.layout.words)
        bad = self.lib.canonical_words(
            self.ffi.new("int64_t[]", self.layout.flatten(s)), self.keep_all, w
        )
        if bad:
            raise ValueError(f"{self.layout.slots[bad - 1].name} outside its range")
        return tuple(w)

    def holds(self, s: State) -> list[bool]:
        out = self.ffi.new("int32_t[]", max(1, len(self.props)))
        self.lib.props_hold(self.ffi.new("int64_t[]", self.layout.flatten(s)), out)
        return [bool(out[i]) for i in range(len(self.props))]
