"""Abstraction: the parameterized state of a finite (symbolic or concrete)
one, and agreement of a parameterized successor with a finite one's
abstraction at the spec's indices; conformance.py's queries are built on
these.
"""

from __future__ import annotations

from typing import Any

import z3

from percpu_mc.checker.parametric.scope import BoolArr, CellArr, Design, IntArr, PState
from percpu_mc.model.params import Params
from percpu_mc.model.state import State


def _int(v: Any) -> Any:
    if isinstance(v, bool):
        raise TypeError("a boolean where an integer was expected")
    return z3.IntVal(v) if isinstance(v, int) else z3.BV2Int(v, is_signed=True)


def _bool(v: Any) -> Any:
    return z3.BoolVal(v) if isinstance(v, bool) else v


def _bit(v: Any, k: int) -> Any:
    if isinstance(v, int):
        return z3.BoolVal(bool((v >> k) & 1))
    return z3.Extract(k, k, v) == 1


def _array(base: Any, items: Any, conv: Any) -> Any:
    out = base
    for j, e in enumerate(items):
        out = z3.Store(out, j, conv(e))
    return out


def abstract(p: Params, s: State, tag: str) -> PState:
    """The parameterized state of a finite (symbolic or concrete) one; array
    entries outside the spec's ranges are free."""

    def arr(name: str, srt: Any, items: Any, conv: Any) -> Any:
        return _array(z3.Const(f"{name}@{tag}", srt), items, conv)

    def row(c: int, v: Any) -> Any:
        return _array(
            z3.Const(f"amap[{c}]@{tag}", BoolArr), range(p.unit_cells), lambda k: _bit(v, k)
        )

    def page_row(c: int, v: Any) -> Any:
        return _array(
            z3.Const(f"pop[{c}]@{tag}", BoolArr), range(p.unit_pages), lambda k: _bit(v, k)
        )

    amap = z3.Const(f"amap@{tag}", CellArr)
    for c, v in enumerate(s.alloc_map):
        amap = z3.Store(amap, c, row(c, v))
    pop = z3.Const(f"pop@{tag}", CellArr)
    for c, v in enumerate(s.populated):
        pop = z3.Store(pop, c, page_row(c, v))
    return PState(
        live=arr("live", BoolArr, s.live, _bool),
        linked=arr("linked", BoolArr, s.linked, _bool),
        to_free=arr("to_free", BoolArr, s.to_free, _bool),
        mep=arr("mep", BoolArr, s.map_extend_pending, _bool),
        ext_running=arr("ext_running", BoolArr, s.ext_running, _bool),
        amap=amap,
        pop=pop,
        pc=arr("pc", IntArr, s.pc, _int),
        chunk=arr("chunk", IntArr, s.chunk, _int),
        off=arr("off", IntArr, s.off, _int),
        size=arr("size", IntArr, s.req_size, _int),
        occ=arr("occ", IntArr, s.occ, _int),
        lv=arr("lv", BoolArr, s.live_valid, _bool),
        lc=arr("lc", IntArr, s.live_chunk, _int),
        lo=arr("lo", IntArr, s.live_off, _int),
        ls=arr("ls", IntArr, s.live_size, _int),
        mutex=_int(s.alloc_mutex),
        bpc=_int(s.balance_pc),
        bchunk=_int(s.balance_chunk),
        ctr=_int(s.nr_empty_pop_pages),
    )


def agrees(p: Params, post: PState, t: PState, design: Design) -> Any:
    """The parameterized successor `post` equals the abstraction `t` of the
    finite one at every index of the spec's ranges (occ_pages where the
    counter reads it)."""
    per = {
        "live": p.nr_chunks,
        "linked": p.nr_chunks,
        "to_free": p.nr_chunks,
        "mep": p.nr_chunks,
        "ext_running": p.nr_chunks,
        "pc": p.nr_contexts,
        "chunk": p.nr_contexts,
        "off": p.nr_contexts,
        "size": p.nr_contexts,
        **({"occ": p.nr_contexts} if design.counter == "after-population" else {}),
        "lv": p.nr_contexts * p.live_per_context,
        "lc": p.nr_contexts * p.live_per_context,
        "lo": p.nr_contexts * p.live_per_context,
        "ls": p.nr_contexts * p.live_per_context,
    }
    eqs = [getattr(post, f) == getattr(t, f) for f in ("mutex", "bpc", "bchunk", "ctr")]
    for f, n in per.items():
        a, b = getattr(post, f), getattr(t, f)
        eqs += [a[j] == b[j] for j in range(n)]
    eqs += [
        post.amap[c][k] == t.amap[c][k] for c in range(p.nr_chunks) for k in range(p.unit_cells)
    ]
    eqs += [post.pop[c][k] == t.pop[c][k] for c in range(p.nr_chunks) for k in range(p.unit_pages)]
    return z3.And(*eqs)
