"""Slot-0 demotion ("percpu: relegate chunks unusable when failing small
allocations", v5.2; Switches.slot_fail_demotion).

pcpu_alloc()'s scan, for each chunk of each slot from
pcpu_size_to_slot(size) up: `off = pcpu_find_block_fit(chunk, ...); if (off
< 0) { if (slot < PCPU_SLOT_FAIL_THRESHOLD) pcpu_chunk_move(chunk, 0);
continue; }`.  pcpu_slot[0] lies below every scan's first slot (and below
pcpu_size_to_slot(PAGE_SIZE), where pcpu_balance_populated() starts), so a
demoted chunk is served by no allocation and refilled by no balance run
until pcpu_chunk_relocate() moves it: when a free_percpu() changes its slot
(a fully free chunk always does) or pcpu_isolate_chunk() moves it to
pcpu_to_depopulate_slot.

The scan steps take a choice `demote`: 1 demotes every chunk the scan
passed over that failed its fit in a slot below the threshold (the kernel
demotes each of them; which slot is below 64 bytes has no fixed counterpart
in scaled cells, so 0, demoting none, is the other end); 1 is taken only
when some chunk qualifies, so no run is counted twice.  The passed-over
chunks are those scanned with no fit in a slot up to the chosen chunk's (all
of them when none fits): the order inside one slot is a choice, and the
chunks that cannot serve the request are taken to come first, as the
atomic path's map-extension queueing takes them (model/actions/alloc.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from percpu_mc.model.actions.common import Action, Choices, KernelBase, Step
from percpu_mc.model.control import AllocPc, Isolated
from percpu_mc.model.geometry import chunk_slot, size_to_slot
from percpu_mc.model.ops import Ops, select
from percpu_mc.model.params import PCPU_SLOT_FAIL_THRESHOLD
from percpu_mc.model.state import State, upd
from percpu_mc.model.vocabulary import Kind

# The steps whose pcpu_lock section is pcpu_alloc()'s scan (restart:).
SCAN_KINDS = frozenset({Kind.ALLOC, Kind.ALLOC_CREATE, Kind.ALLOC_RESTART})
# Where a scan step leaves a context that found an area.
AREA_FOUND_PCS = (AllocPc.EXTEND, AllocPc.POP_MUTEX, AllocPc.POPULATE, AllocPc.COUNTER)


class SlotFailDemotion(KernelBase):
    """The demotion of chunks the scan fails on, and their return."""

    def demotable(self, x: Ops, s: State, i: int, a: Action, ch: Choices, found: Any) -> dict:
        """Per normal chunk: the scan of context i's request (its step a,
        from state s) passed over it with no fit, in a slot below the
        threshold."""
        g = self.g
        if a.kind is Kind.ALLOC:
            size, align, atomic = ch["size"], ch["align"], a.atomic
            reserved: Any = x.eq(ch["reserved"], 1) if self.p.has_reserved else False
        else:
            size, align, atomic = s.req_size[i], s.req_align[i], False
            reserved = s.req_reserved[i] if self.p.has_reserved else False
        keys = self.scan_keys(x, s)
        c = ch["chunk"]
        key_c = select(x, [keys.get(j, 0) for j in range(self.p.nr_chunks)], c)
        out = {}
        for j in self.normal_chunks():
            fails = x.not_(self.candidate(x, s, j, size, align, atomic))
            # the list's slot: pcpu_sidelined_slot lies above every partly used one
            sidelined = x.eq(s.isolated[j], int(Isolated.SIDELINED))
            slot = chunk_slot(x, g, s.alloc_map[j])
            low = x.and_(x.not_(sidelined), x.lt(slot, PCPU_SLOT_FAIL_THRESHOLD))
            # from pcpu_size_to_slot(size) up to the chosen chunk's place
            from_start = x.or_(sidelined, x.le(size_to_slot(x, g, size), slot))
            before = x.or_(x.not_(found), x.and_(x.not_(x.eq(c, j)), x.le(keys[j], key_c)))
            out[j] = x.and_(x.not_(reserved), self.scanned(x, s, j), fails, low, from_start, before)
        return out

    def demotion(self, a: Action) -> Action:
        """a, with its scan's demotions (scan steps) or a relocation's
        return from pcpu_slot[0] (free_percpu())."""
        fn = a.fn
        i = a.ctx
        if i is not None and a.kind in SCAN_KINDS:

            def scan(x: Ops, s: State, ch: Choices) -> Step:
                guard, post, ev = fn(x, s, ch)
                found = x.or_(*[x.eq(post.pc[i], int(pc)) for pc in AREA_FOUND_PCS])
                able = self.demotable(x, s, i, a, ch, found)
                if a.kind is Kind.ALLOC_CREATE:
                    # a failed pcpu_create_chunk() goes to fail, with no scan
                    scanned = x.not_(x.eq(post.pc[i], int(AllocPc.IDLE)))
                    able = {j: x.and_(scanned, v) for j, v in able.items()}
                demote = x.eq(ch["demote"], 1)
                post = upd(
                    post,
                    demoted=tuple(
                        x.or_(d, x.and_(demote, able[j])) if j in able else d
                        for j, d in enumerate(post.demoted)
                    ),
                )
                return x.and_(guard, x.or_(x.not_(demote), *able.values())), post, ev

            return replace(a, choices=a.choices + ("demote",), fn=scan)
        if i is not None and a.kind is Kind.FREE:

            def free(x: Ops, s: State, ch: Choices) -> Step:
                guard, post, ev = fn(x, s, ch)
                # pcpu_chunk_relocate(chunk, oslot) moves a chunk whose slot
                # changed; pcpu_isolate_chunk() moves it to_depopulate
                g = self.g
                back = [
                    x.or_(
                        x.not_(x.eq(chunk_slot(x, g, s.alloc_map[j]), chunk_slot(x, g, m))),
                        x.not_(x.eq(post.isolated[j], int(Isolated.NO))),
                    )
                    for j, m in enumerate(post.alloc_map)
                ]
                kept = tuple(x.and_(d, x.not_(b)) for d, b in zip(post.demoted, back))
                return guard, upd(post, demoted=kept), ev

            return replace(a, fn=free)
        return a
