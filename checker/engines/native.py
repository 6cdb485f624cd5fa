"""The model compiled to native code: one C module per spec, built with the
system C compiler and loaded through cffi.

C through cffi because the model already has an expression interface whose
values can be C text (checker/engines/codegen.py), the system compiler is on
every machine of this kind, and cffi is the well-kept way to call C from
CPython without writing an extension module.  The module holds one
straight-line function per (action, choice combination) and per property
(checker/engines/codegen.py, Generator), the packing of a state
(checker/engines/layout.py), the canonical form under the symmetry of the
allocating contexts and of the dynamic chunk structs
(checker/engines/symmetry.py), and the breadth-first search of search.c;
it is built and cached by checker/engines/build.py.  This module loads it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from operator import or_
from typing import Any

import cffi

from percpu_mc.checker.engines.build import build
from percpu_mc.checker.engines.codegen import Generator, Operation, result_t
from percpu_mc.checker.engines.layout import Layout, Saturation
from percpu_mc.model.machine import Model
from percpu_mc.model.properties import Property
from percpu_mc.model.state import State

CDEF = """
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
        ffi.cdef(result_t(len(props)) + CDEF)
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
