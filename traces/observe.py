"""What one model step shows in an ftrace log: the shared vocabulary of the
writer (model run -> log) and the conformance replay (log -> model runs).

A step shows at most one *marker* and the tracepoints it fires:
* the marker is a function-tracer line when the step calls a kernel function
  the function tracer can see (`pcpu_populate_chunk <-pcpu_balance_workfn`),
  or a kprobe line placed at the step's code when it is inline code
  (`pcpu_alloc_counter_load: (pcpu_alloc+0x...)`);
* the tracepoints are the five `percpu:*` events (docs/kernel-source-notes.md, section 5):
  percpu_alloc_percpu where pcpu_alloc() returns, percpu_alloc_percpu_fail at
  `fail:`, percpu_free_percpu in free_percpu(), percpu_create_chunk and
  percpu_destroy_chunk in pcpu_create_chunk() / pcpu_destroy_chunk().

Which lines a step may print is declared on the model, by the kind of the
action (model/vocabulary.py); which of them it prints, and their fields,
are derived here from the state before and after the step, so the writer
and the replay cannot disagree about what a step logs.
"""

from __future__ import annotations

from dataclasses import dataclass

from percpu_mc.model.actions import Action, Kernel
from percpu_mc.model.control import AllocPc
from percpu_mc.model.geometry import first_n_bits, first_run
from percpu_mc.model.ops import Concrete
from percpu_mc.model.state import State
from percpu_mc.model.vocabulary import Kind, Tracepoint

# Line kinds: the tracepoints, and the markers.
ALLOC, FAIL, FREE, CREATE, DESTROY = Tracepoint
FUNC, PROBE = "func", "probe"


@dataclass(frozen=True, slots=True)
class Obs:
    """One line a step shows.  `args` by kind:
    alloc   (chunk, off, size, align, atomic, reserved)  in cells
    fail    (size, align, atomic, reserved)
    free    (chunk, off)
    create / destroy  (chunk,)
    func    (function, parent)
    probe   (name, site) or (name, site, fetch): a kprobe with fetch args,
            each (key, kind, value): kind "chunk" (a chunk struct, printed
            as its base_addr), "cells" (printed in bytes) or "int"."""

    kind: str
    args: tuple

    @property
    def marker_key(self) -> tuple[str, str] | None:
        """Markers are matched by name: (function, parent) or the probe name."""
        if self.kind == FUNC:
            return self.args
        if self.kind == PROBE:
            return (self.args[0], "")
        return None


def func(name: str, parent: str) -> Obs:
    return Obs(FUNC, (name, parent))


def probe(name: str, site: str) -> Obs:
    return Obs(PROBE, (name, site))


# Kprobes for inline code, at offsets into their function (the writer prints
# them; the replay matches the probe name only).
PROBES = {
    "pcpu_alloc_restart": "pcpu_alloc+0x1f4/0x6b0",
    "pcpu_alloc_chunk_mutex": "pcpu_alloc+0x3a8/0x6b0",
    "pcpu_alloc_pop_mutex": "pcpu_alloc+0x41c/0x6b0",
    "pcpu_alloc_counter": "pcpu_alloc+0x4e0/0x6b0",
    "pcpu_alloc_counter_load": "pcpu_alloc+0x4d2/0x6b0",
    "pcpu_alloc_counter_store": "pcpu_alloc+0x4e8/0x6b0",
    "pcpu_balance_collect": "pcpu_balance_workfn+0x3c/0x2a0",
    "pcpu_balance_map_extend": "pcpu_balance_workfn+0xd8/0x2a0",
    "pcpu_balance_retry_pop": "pcpu_balance_workfn+0x118/0x2a0",
    "pcpu_balance_pick": "pcpu_balance_workfn+0x16c/0x2a0",
    "pcpu_balance_reclaim": "pcpu_reclaim_populated+0x2c/0x1e0",
    "pcpu_populate_chunk": "pcpu_populate_chunk+0x0/0x1a0",
    "pcpu_alloc": "pcpu_alloc+0x0/0x6b0",
    "pcpu_balance_free_empty": "pcpu_balance_free+0x0/0x1c0",
}


# gfp_t values a kprobe fetches (v6.x): GFP_KERNEL, and GFP_ATOMIC for atomic callers
GFP_KERNEL, GFP_ATOMIC = 0xCC0, 0xA20


def populate(chunk: int, region: int) -> Obs:
    """A kprobe on pcpu_populate_chunk(chunk, page_start, page_end): which
    chunk and pages are populated is what the replay cannot infer alone."""
    start = (region & -region).bit_length() - 1
    return Obs(
        PROBE,
        (
            "pcpu_populate_chunk",
            PROBES["pcpu_populate_chunk"],
            (
                ("chunk", "chunk", chunk),
                ("page_start", "int", start),
                ("page_end", "int", region.bit_length()),
            ),
        ),
    )


def alloc_entry(size: int, align: int, reserved: bool, atomic: bool) -> Obs:
    """A kprobe on pcpu_alloc(size, align, reserved, gfp): the request, which
    the replay would otherwise guess until the call's tracepoint."""
    return Obs(
        PROBE,
        (
            "pcpu_alloc",
            PROBES["pcpu_alloc"],
            (
                ("size", "cells", size),
                ("align", "cells", align),
                ("reserved", "int", int(reserved)),
                ("gfp", "int", GFP_ATOMIC if atomic else GFP_KERNEL),
            ),
        ),
    )


def p(name: str) -> Obs:
    return probe(name, PROBES[name])


class Observer:
    """Computes the lines of a step of one spec's model."""

    def __init__(self, kernel: Kernel):
        self.k = kernel
        self.x = Concrete()

    def lines(self, a: Action, pre: State, post: State) -> list[Obs]:
        marker = self.marker(a, pre, post)
        out = [marker] if marker is not None else []
        return out + self.tracepoints(a, pre, post)

    def marker(self, a: Action, pre: State, post: State) -> Obs | None:
        """The marker the step prints (its kind says which it may print):
        pcpu_alloc()'s entry probe with the request; the population probe
        when the step populates pages; the function-tracer line when the
        step calls that function on this path; else its probe, if any."""
        log = a.kind.log
        if a.kind is Kind.ALLOC:
            i = a.ctx
            return alloc_entry(
                post.req_size[i], post.req_align[i], post.req_reserved[i], post.req_atomic[i]
            )
        if log.populate and (where := self.populated(a, pre)) is not None:
            return populate(*where)
        if log.call is not None and self.calls(a, pre, post):
            return func(*log.call)
        return p(log.probe) if log.probe is not None else None

    def populated(self, a: Action, pre: State) -> tuple[int, int] | None:
        """(chunk, pages) a populating step passes pcpu_populate_chunk(); None
        when it populates nothing (pcpu_alloc()'s area is populated already)."""
        g, x = self.k.g, self.x
        if a.ctx is None:
            c = pre.balance_chunk
            free = x.bnot(pre.populated[c], g.pages)
            return c, first_n_bits(x, g, first_run(x, g, free), pre.nr_to_pop)
        region = self.k.unpopulated(x, pre, a.ctx)
        return (pre.chunk[a.ctx], region) if region else None

    def calls(self, a: Action, pre: State, post: State) -> bool:
        """Whether the step calls the function of its kind's function-tracer
        line on this path."""
        if a.kind is Kind.ALLOC_CREATE:  # else it only took the mutex
            return bool(self.k.free_slot_empty(self.x, pre))
        if a.kind in (Kind.BALANCE_DESTROY, Kind.BALANCE_FREE_EMPTY_DESTROY):
            # the depopulation before the destruction, when there is any
            dead = [c for c in range(len(pre.live)) if pre.live[c] and not post.live[c]]
            return bool(dead and pre.populated[dead[0]])
        return True

    def tracepoints(self, a: Action, pre: State, post: State) -> list[Obs]:
        out: list[Obs] = []
        for c in range(len(pre.live)):
            if not pre.live[c] and post.live[c]:
                out.append(Obs(CREATE, (c,)))
            elif pre.live[c] and not post.live[c]:
                out.append(Obs(DESTROY, (c,)))
        i = a.ctx
        if i is None:
            return out
        lp = self.k.p.live_per_context
        mine = range(i * lp, (i + 1) * lp)
        if a.kind is Kind.FREE:
            for j in mine:
                if pre.live_valid[j] and not post.live_valid[j]:
                    out.append(Obs(FREE, (pre.live_chunk[j], pre.live_off[j])))
            return out
        if pre.pc[i] == AllocPc.IDLE and a.kind is not Kind.ALLOC:
            return out
        if post.pc[i] != AllocPc.IDLE:
            return out
        new = [j for j in mine if post.live_valid[j] and not pre.live_valid[j]]
        if new:
            j = new[0]
            out.append(
                Obs(
                    ALLOC,
                    (
                        post.live_chunk[j],
                        post.live_off[j],
                        post.live_size[j],
                        post.req_align[i],
                        bool(post.req_atomic[i]),
                        bool(post.req_reserved[i]),
                    ),
                )
            )
        else:
            out.append(
                Obs(
                    FAIL,
                    (
                        post.req_size[i],
                        post.req_align[i],
                        bool(post.req_atomic[i]),
                        bool(post.req_reserved[i]),
                    ),
                )
            )
        return out


# Every marker a step may print (the writer's claim "every unlogged step
# traced" stands for all of them).
ALL_MARKERS = frozenset(m for kind in Kind for m in kind.log.markers)
