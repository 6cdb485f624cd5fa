"""The native starvation search (check-model --starvation SIZE --engine
explicit): every reachable kernel state stored once as packed bytes, the
steps a starvation loop may take as edges between state indices, the
strongly connected components found natively, the fairness conditions
tested per component, the lasso replayed on the concrete interpretation.

The module is the compiled safety search's (checker/engines/codegen.py's
Generator: the operations, pack(), unpack(), forget()) with a liveness half
generated here and checker/engines/liveness.c appended: per operation its
labels (checker/engines/fairness.py's request_failed, run_ended and
gfp_failed, emitted through CEmit on the operation's pre- and post-state),
the waiters of `waiting`, and, in the kernel's list order, the facts the
order follows (which chunks are on a pcpu_slot[] list, in which slot, on
to_free, on pcpu_map_extend_chunks) with per operation the list its chunk
choice takes from (checker/engines/list_order.py's SCANS, TO_FREE,
EXTEND_LIST).  The Python fair-SCC search (checker/engines/lasso.py, with
list_order.KernelOrder for the order) is the reference it is tested against.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import resources
from typing import Any, Callable

import cffi

from percpu_mc.checker.engines import list_order
from percpu_mc.checker.engines.build import build
from percpu_mc.checker.engines.codegen import CEmit, Generator
from percpu_mc.checker.engines.fairness import (
    gfp_failed,
    request_failed,
    requests,
    run_ended,
    waiting,
)
from percpu_mc.checker.engines.lasso import Lasso
from percpu_mc.checker.engines.layout import Layout
from percpu_mc.model.geometry import chunk_slot
from percpu_mc.model.machine import Model, Trace, TraceStep
from percpu_mc.model.ops import Concrete
from percpu_mc.model.reduction import canonical
from percpu_mc.model.state import BOOL_FIELDS, State
from percpu_mc.model.vocabulary import Kind

NONE_RANK = 255

CDEF = """
typedef int (*progress_cb)(int depth, int64_t states, int64_t bytes);
typedef struct live_t live_t;
live_t *live_new(void);
void live_free(live_t *s);
int live_explore(live_t *s, const int64_t *init, const uint8_t *init_order, int size,
                 int64_t limit, progress_cb cb, int *bad_field, int64_t *bad_value);
int live_sccs(live_t *s);
int64_t live_size(const live_t *s);
int64_t live_edges(const live_t *s);
int64_t live_transitions(const live_t *s);
int64_t live_saturated(const live_t *s);
int64_t live_peak(const live_t *s);
int64_t live_comps(const live_t *s);
int64_t live_entry(const live_t *s);
int64_t live_loop_len(const live_t *s);
void live_loop(const live_t *s, int32_t *ops, int64_t *targets);
int64_t live_parent(const live_t *s, int64_t i);
int live_parent_op(const live_t *s, int64_t i);
void live_node(const live_t *s, int64_t i, int64_t *v, uint8_t *order);
"""

# the list an operation's chunk choice takes from, in liveness.c's OP_LIST
SLOTS, SLOTS_CREATED, TO_FREE, EXTEND = 0, 1, 2, 3


class SearchError(RuntimeError):
    """The search could not go on (a field left its packed range, memory)."""


class TooMany(Exception):
    """More reachable nodes than the limit."""


class Spurious(Exception):
    """A lasso of the saturated counter's abstraction that the concrete
    model does not run."""


@dataclass
class LiveStats:
    states: int = 0  # nodes: kernel states (with the order, in the kernel's order)
    edges: int = 0  # steps a starvation loop may take
    transitions: int = 0  # every step explored
    bytes: int = 0  # most memory the search held (its arrays)
    components: int = 0  # strongly connected components tested
    saturated: int = 0  # successors stored with the counter saturated
    seconds: float = 0.0
    explore_seconds: float = 0.0


def _states(x: CEmit, layout: Layout, var: str) -> State:
    return layout.assemble(
        [x.slot(var, j, sl.name in BOOL_FIELDS) for j, sl in enumerate(layout.slots)]
    )


def _bit(x: CEmit, v: Any, k: int) -> str:
    return f"({x.lit(v)} ? {1 << k} : 0)"


class Liveness:
    """One spec's liveness module, loaded."""

    def __init__(self, model: Model, depth: int, kernel_order: bool):
        why = list_order.untracked(model) if kernel_order else None
        if why:
            raise ValueError(why)
        self.model, self.kernel_order = model, kernel_order
        gen = Generator(model, [], depth)
        source = gen.source()
        self.layout, self.ops, self.saturation = gen.layout, gen.ops, gen.saturation
        source += self.half()
        source += resources.files("percpu_mc.checker.engines").joinpath("liveness.c").read_text()
        self.ffi = cffi.FFI()
        self.ffi.cdef(CDEF)
        self.lib: Any = self.ffi.dlopen(str(build(source)))

    def tables(self) -> dict[str, list[int]]:
        """Per operation: the size of the atomic request it starts (-1: none),
        its context (-1: none), its group of kernel-order alternatives (the
        same action and choices but the chunk; -1: not chosen by list
        order), its chunk choice, and the list that choice takes from."""
        model = self.model
        out: dict[str, list[int]] = {k: [] for k in ("size", "ctx", "group", "chunk", "list")}
        groups: dict[tuple, int] = {}
        for op in self.ops:
            a, ch = model.actions[op.action], op.choices
            out["size"].append(ch["size"] if "size" in ch and requests(a, ch, ch["size"]) else -1)
            out["ctx"].append(-1 if a.ctx is None else a.ctx)
            ordered = "chunk" in a.choices and (
                a.kind in list_order.SCANS or a.kind in (list_order.TO_FREE, list_order.EXTEND_LIST)
            )
            if ordered:
                key = (op.action, tuple(sorted((k, v) for k, v in ch.items() if k != "chunk")))
                out["group"].append(groups.setdefault(key, len(groups)))
            else:
                out["group"].append(-1)
            out["chunk"].append(ch.get("chunk", 0))
            out["list"].append(
                TO_FREE
                if a.kind is list_order.TO_FREE
                else EXTEND
                if a.kind is list_order.EXTEND_LIST
                else SLOTS_CREATED
                if a.kind is Kind.ALLOC_CREATE
                else SLOTS
            )
        out["ngroups"] = [len(groups)]
        return out

    def half(self) -> str:
        """The liveness half of the module (liveness.c's header names it)."""
        model, p, layout = self.model, self.model.p, self.layout
        t = self.tables()
        nwait = len(waiting(Concrete(), p, model.init()))
        parts = [
            f"#define NCH {p.nr_chunks}\n#define NCTX {p.nr_contexts}\n#define NWAIT {nwait}\n"
            f"#define KORDER {int(self.kernel_order)}\n#define FREE_SLOT {model.kernel.g.free_slot}\n"
            f"#define NGROUPS {t['ngroups'][0]}\n"
        ]
        for name, key in (
            ("OP_SIZE", "size"),
            ("OP_CTX", "ctx"),
            ("OP_GROUP", "group"),
            ("OP_CHUNK", "chunk"),
            ("OP_LIST", "list"),
        ):
            parts.append(
                f"static const int32_t {name}[NOPS > 0 ? NOPS : 1] = {{"
                + (", ".join(map(str, t[key])) or "0")
                + "};"
            )
        # labels: bit 0 the request failed, bit 1 a balance run ended, bit 2 a GFP_KERNEL
        # allocation failed
        for k, op in enumerate(self.ops):
            x = CEmit()
            pre, post = _states(x, layout, "in"), _states(x, layout, "out")
            a = model.actions[op.action]
            bits = [
                _bit(x, run_ended(x, pre, post), 1),
                _bit(x, gfp_failed(x, a, op.choices, post), 2),
            ]
            if t["size"][k] >= 0:
                bits.append(_bit(x, request_failed(x, post, a.ctx), 0))
            parts += [
                f"static int label_{k}(const int64_t *in, const int64_t *out) {{",
                *x.lines,
                f"return {' | '.join(bits)};",
                "}",
            ]
        parts.append(
            "typedef int (*label_fn)(const int64_t *, const int64_t *);\n"
            "static const label_fn LABELS[NOPS > 0 ? NOPS : 1] = {"
            + (", ".join(f"label_{k}" for k in range(len(self.ops))) or "0")
            + "};"
        )
        x = CEmit()
        s = _states(x, layout, "in")
        bits = [f"({x.lit(w)} ? {1 << k}ULL : 0)" for k, w in enumerate(waiting(x, p, s))]
        parts += [
            "static uint64_t waiting_mask(const int64_t *in) {",
            *x.lines,
            f"return {' | '.join(bits) or '0'};",
            "}",
        ]
        if self.kernel_order:
            x = CEmit()
            s = _states(x, layout, "in")
            kern, g = model.kernel, model.kernel.g
            assigns = []
            normal = set(kern.normal_chunks())
            for c in range(p.nr_chunks):
                facts = (
                    kern.in_slots(x, s, c) if c in normal else False,
                    chunk_slot(x, g, s.alloc_map[c]),
                    s.to_free[c],
                    s.map_extend_pending[c],
                    x.and_(s.live[c], s.linked[c]),
                )
                assigns += [f"f[{c * 5 + k}] = (int32_t)({x.lit(v)});" for k, v in enumerate(facts)]
            parts += [
                "static void order_facts(const int64_t *in, int32_t *f) {",
                *x.lines,
                *assigns,
                "}",
            ]
        return "\n".join(parts) + "\n"

    def initial_order(self, s: State) -> bytes:
        """list_order.KernelOrder.initial as ranks: the listed chunks slot by
        slot, each list by index; nothing on to_free or the extension list."""
        out = bytearray([NONE_RANK] * (2 * self.model.p.nr_chunks))
        if self.kernel_order:
            k = list_order.KernelOrder(self.model)
            o = k.initial(s)
            assert not o.to_free and not o.extend
            for r, c in enumerate(c for lst in o.slots for c in lst):
                out[c] = r
        return bytes(out)

    def search(
        self, size: int, limit: int, progress: Callable[[int, float], None] | None = None
    ) -> tuple[Lasso | None, LiveStats]:
        """A starvation lasso for atomic requests of `size` cells, or None
        when no fair component exists among all reachable nodes; TooMany
        past `limit` nodes."""
        ffi, lib = self.ffi, self.lib
        start = time.monotonic()
        handle = lib.live_new()
        if handle == ffi.NULL:
            raise SearchError("out of memory")
        try:
            init = self.model.init()

            @ffi.callback("int(int, int64_t, int64_t)")
            def report(_d: int, states: int, _held: int) -> int:
                if progress:
                    progress(states, time.monotonic() - start)
                return 0

            bad_field, bad_value = ffi.new("int *"), ffi.new("int64_t *")
            rc = lib.live_explore(
                handle,
                ffi.new("int64_t[]", self.layout.flatten(init)),
                ffi.new("uint8_t[]", self.initial_order(canonical(init))),
                size,
                limit,
                report,
                bad_field,
                bad_value,
            )
            stats = LiveStats(
                states=lib.live_size(handle),
                edges=lib.live_edges(handle),
                transitions=lib.live_transitions(handle),
                saturated=lib.live_saturated(handle),
                explore_seconds=time.monotonic() - start,
            )
            if rc == 1:
                raise SearchError(self.layout.slots[bad_field[0]].outside(bad_value[0]))
            if rc == 2:
                raise SearchError(f"out of memory after {stats.states} states")
            if rc == 3:
                raise TooMany()
            found = lib.live_sccs(handle)
            if found < 0:
                raise SearchError(f"out of memory after {stats.states} states")
            stats.components = lib.live_comps(handle)
            lasso = self.lasso(handle, size) if found else None
            stats.bytes = lib.live_peak(handle)
            stats.seconds = time.monotonic() - start
            return lasso, stats
        finally:
            lib.live_free(handle)

    def node(self, handle: Any, i: int) -> list[int]:
        v = self.ffi.new("int64_t[]", len(self.layout.slots))
        o = self.ffi.new("uint8_t[]", 2 * self.model.p.nr_chunks)
        self.lib.live_node(handle, i, v, o)
        return list(v)

    def lasso(self, handle: Any, size: int) -> Lasso:
        """The lasso the search found, replayed on the concrete
        interpretation: each step enabled, each state's kernel state the
        stored node's."""
        ffi, lib = self.ffi, self.lib
        entry = lib.live_entry(handle)
        prefix: list[tuple[int, int]] = []  # (operation, node)
        v = entry
        while v > 0:
            prefix.append((lib.live_parent_op(handle, v), v))
            v = lib.live_parent(handle, v)
        prefix.reverse()
        n = lib.live_loop_len(handle)
        ops, targets = ffi.new("int32_t[]", max(1, n)), ffi.new("int64_t[]", max(1, n))
        lib.live_loop(handle, ops, targets)
        loop = [(ops[k], targets[k]) for k in range(n)]
        model, x, sat = self.model, Concrete(), self.saturation
        s = canonical(model.init())  # each step from a kernel state, as lasso.explore steps
        steps = []
        floor = False  # a node so far with the counter at the saturation floor
        for k, (o, node) in enumerate(prefix + loop, 1):
            op = self.ops[o]
            stored = self.node(handle, node)
            floor |= sat is not None and stored[sat.slot] == sat.floor
            enabled, t = model.step(x, s, model.actions[op.action], op.choices)
            c = canonical(t)
            flat = self.layout.flatten(c)
            if enabled and (sat.clamp(flat) if sat is not None else flat) == stored:
                steps.append(TraceStep(op.action, op.choices, c))
                s = c
                continue
            if floor:
                raise Spurious(f"stored step {k} has no concrete counterpart")
            raise AssertionError(
                f"step {k} of the native lasso has no concrete counterpart: "
                "the interpretations disagree"
            )
        states = [canonical(model.init())] + [st.state for st in steps]
        if states[len(prefix)] != states[-1]:
            raise Spurious("the loop closes only on the saturated counter")
        return Lasso(size, Trace(states[0], tuple(steps)), len(prefix))
