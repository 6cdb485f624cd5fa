"""The kernel's list order, for the starvation search: the model leaves the
order of chunks inside a pcpu_slot[] list out (a `chunk` choice may name any
chunk the kernel code could reach), so a lasso it finds may need a choice
the kernel never makes.  Here the order is tracked next to the model state,
as v4.13's mm/percpu.c keeps it, and only the kernel's choice is explored:

* pcpu_chunk_relocate(chunk, oslot): a chunk whose slot grows goes to the
  head of its new list (list_move), one whose slot shrinks to the tail
  (list_move_tail); a created chunk is relocated from -1, so it goes to the
  head of the free slot (pcpu_alloc(), and the balance work's phase 2);
* pcpu_alloc() scans the slots upwards and each list from its head, and
  takes the first chunk that serves; the balance work's phase 2 takes the
  first chunk with unpopulated pages the same way;
* pcpu_balance_workfn() spares the head of pcpu_slot[pcpu_nr_slots - 1]
  and list_move()s the others to the head of to_free, so to_free is the
  free list reversed, and it destroys them from its head;
* pcpu_map_extend_chunks is first in, first out (list_add_tail once, taken
  with list_first_entry).

A step moves at most one existing chunk between lists, besides a creation
(pcpu_alloc()'s create-then-scan step), so applying the creation first and
then the other move is the kernel's order.  The isolated chunks and the
final collect of f183324133ea are not covered (partial_depopulation), nor
are 3c7be18ac9a0's per-type lists (chunk_types = 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from percpu_mc.model.actions import Action, Kernel
from percpu_mc.model.geometry import Geometry, chunk_slot
from percpu_mc.model.machine import Model
from percpu_mc.model.ops import Concrete
from percpu_mc.model.reduction import canonical
from percpu_mc.model.state import State
from percpu_mc.model.vocabulary import Kind

# The kinds of step whose `chunk` choice picks from a list, and which list:
# the pcpu_slot[] lists, to_free, pcpu_map_extend_chunks.
SCANS = frozenset(
    {Kind.ALLOC, Kind.ALLOC_RESTART, Kind.ALLOC_CREATE, Kind.BALANCE_COLLECT, Kind.BALANCE_PICK}
)
TO_FREE = Kind.BALANCE_DESTROY
EXTEND_LIST = Kind.BALANCE_MAP_EXTEND_PICK


@dataclass(frozen=True)
class Order:
    """The lists the model leaves unordered."""

    slots: tuple[tuple[int, ...], ...]  # pcpu_slot[k], head first
    to_free: tuple[int, ...] = ()  # the balance work's to_free, head first
    extend: tuple[int, ...] = ()  # pcpu_map_extend_chunks, head first


def untracked(model: Model) -> str | None:
    """Why the kernel's list order is not tracked for `model`, or None."""
    sw = model.p.switches
    if sw.partial_depopulation:
        return "the kernel list order is not tracked with partial depopulation"
    if sw.chunk_types != 1:
        return "the kernel list order is not tracked with two chunk types (one list set each)"
    return None


class KernelOrder:
    """Order tracking and the kernel's choices for one model."""

    def __init__(self, model: Model):
        why = untracked(model)
        if why:
            raise ValueError(why)
        self.model, self.x = model, Concrete()
        self.g: Geometry = model.kernel.g
        self.kernel: Kernel = model.kernel

    def slot_of(self, s: State, c: int) -> int:
        return int(chunk_slot(self.x, self.g, s.alloc_map[c]))

    def listed(self, s: State) -> list[int]:
        return [c for c in self.kernel.normal_chunks() if self.kernel.in_slots(self.x, s, c)]

    def initial(self, s: State) -> Order:
        """pcpu_setup_first_chunk(): pcpu_chunk_relocate(pcpu_first_chunk, -1)."""
        lists: dict[int, list[int]] = {k: [] for k in range(self.g.free_slot + 1)}
        for c in self.listed(s):
            lists[self.slot_of(s, c)].append(c)
        return self.normalise(s, lists, [], [])

    def normalise(
        self, s: State, lists: dict[int, list[int]], to_free: list[int], extend: list[int]
    ) -> Order:
        assert sorted(c for l in lists.values() for c in l) == self.listed(s), (lists, s)
        assert all(self.slot_of(s, c) == k for k, l in lists.items() for c in l), (lists, s)
        return Order(
            tuple(tuple(lists[k]) for k in range(self.g.free_slot + 1)),
            tuple(to_free),
            tuple(extend),
        )

    def lists(self, o: Order) -> dict[int, list[int]]:
        return {k: list(l) for k, l in enumerate(o.slots)}

    def created(self, s: State, t: State) -> list[int]:
        return [c for c in self.listed(t) if not (s.live[c] and s.linked[c])]

    def with_created(self, s: State, t: State, o: Order) -> dict[int, list[int]]:
        """The lists after pcpu_chunk_relocate(new chunk, -1): at the free slot's head."""
        lists = self.lists(o)
        for c in self.created(s, t):
            lists[self.g.free_slot].insert(0, c)
        return lists

    def rank(self, a: Action, s: State, t: State, o: Order, c: int) -> int:
        """Position of chunk c in the list the step takes its chunk from."""
        if a.kind is TO_FREE:
            return o.to_free.index(c)
        if a.kind is EXTEND_LIST:
            return o.extend.index(c)
        lists = self.with_created(s, t, o) if a.kind is Kind.ALLOC_CREATE else self.lists(o)
        for l in lists.values():
            if c in l:
                return l.index(c)
        raise AssertionError(f"{a.name}: chunk {c} is on no list")

    def steps(self, s: State, o: Order) -> Iterator[tuple[int, dict[str, int], State]]:
        """The model's steps from s whose chunk choice is the kernel's."""
        groups: dict[tuple, list[tuple[int, dict[str, int], State]]] = {}
        for ai, ch, t in self.model.successors(s):
            a = self.model.actions[ai]
            if "chunk" not in a.choices or not (
                a.kind in SCANS or a.kind in (TO_FREE, EXTEND_LIST)
            ):
                yield ai, ch, t
                continue
            key = (ai, tuple(sorted((k, v) for k, v in ch.items() if k != "chunk")))
            groups.setdefault(key, []).append((ai, ch, t))
        for (ai, _), steps in groups.items():
            if len(steps) == 1:  # no choice (or none but the forced 0)
                yield steps[0]
                continue
            a = self.model.actions[ai]
            yield min(steps, key=lambda st: self.rank(a, s, st[2], o, st[1]["chunk"]))

    def advance(self, s: State, t: State, o: Order) -> Order:
        """The lists after the step s -> t."""
        lists = self.with_created(s, t, o)
        before, after = set(self.listed(s)), set(self.listed(t))
        new = set(self.created(s, t))
        to_free = [c for c in o.to_free if t.to_free[c]]
        # collect: list_move() to to_free's head, in the free list's order
        moved = [c for c in o.slots[self.g.free_slot] if c in before and c not in after]
        for c in moved:
            lists[self.g.free_slot].remove(c)
            to_free.insert(0, c)
        gone = before - after - set(moved)
        assert not gone, f"unlinked without collect: {gone}"
        # pcpu_chunk_relocate() of the chunk the step allocated from or freed into
        movers = [
            c
            for c in sorted(after)
            if (c in new and self.slot_of(t, c) != self.g.free_slot)
            or (c in before and self.slot_of(s, c) != self.slot_of(t, c))
        ]
        assert len([c for c in movers if c not in new]) <= 1, movers
        for c in movers:
            old = self.g.free_slot if c in new else self.slot_of(s, c)
            nslot = self.slot_of(t, c)
            lists[old].remove(c)
            if old < nslot:
                lists[nslot].insert(0, c)
            else:
                lists[nslot].append(c)
        # pcpu_map_extend_chunks: list_add_tail() in the scan's order, list_del_init()
        extend = [c for c in o.extend if t.map_extend_pending[c]]
        scan = [c for k in range(len(o.slots)) for c in lists[k]]
        extend += [
            c
            for c in sorted(
                range(len(t.map_extend_pending)),
                key=lambda c: scan.index(c) if c in scan else len(scan) + c,
            )
            if t.map_extend_pending[c] and c not in extend
        ]
        return self.normalise(t, lists, to_free, extend)


def replay(
    model: Model, steps: list[tuple[int, dict[str, int]]]
) -> tuple[list[State], list[Order]]:
    """Run (action index, choices) steps from the initial state, each checked
    to be enabled and to make the kernel's chunk choice; the states and the
    orders after each step (index 0: the initial ones)."""
    k = KernelOrder(model)
    s = canonical(model.init())
    states, orders = [s], [k.initial(s)]
    for n, (ai, ch) in enumerate(steps, 1):
        hit = [t for bi, c, t in k.steps(s, orders[-1]) if bi == ai and c == ch]
        if not hit:
            raise ValueError(f"step {n}: {model.actions[ai].name} {ch} is not a kernel step here")
        t = canonical(hit[0])
        orders.append(k.advance(s, t, orders[-1]))
        states.append(t)
        s = t
    return states, orders
