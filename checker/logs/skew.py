"""The clock-skew window of the level-1 checker (checker/logs/trace_check.py).

Per-CPU clocks may disagree by a little, so a line whose violation goes away
when one line of another CPU, stamped at most `window_ns` later, is taken
first (with the lines of that CPU before it) is not a violation: that order is
what a small clock skew shows. The window holds the lines not yet settled, in
the order they will be applied, and indexes them by what they could explain,
so that the line explaining a conflict is found by a lookup, not by scanning
the window: equal timestamps by the thousand (coarse clocks) keep every line
inside the window at once, and a scan per conflict made that quadratic.
"""

import bisect
from collections import deque
from collections.abc import Iterator

from percpu_mc.traces.events import (
    Event,
    PercpuAlloc,
    PercpuCreateChunk,
    PercpuDestroyChunk,
    PercpuFree,
)

# At most this many lines wait in the window, whatever their timestamps: a
# skew explains a line only by one of the next MAX_PENDING lines. Memory
# stays bounded on a log whose clock never advances (jiffies, `counter`).
MAX_PENDING = 65_536

Key = tuple  # ("A", base, off) | ("F", base, off) | ("FB", base) | ("C", base) | ("D", base)


def explainer_keys(event: Event) -> tuple[Key, ...]:
    """The index entries under which `event`, taken early, explains another
    line's conflict (see SkewWindow.explainer)."""
    base = event.base_addr  # type: ignore[attr-defined]
    match event:
        case PercpuAlloc(off=off, size=size):
            return (("A", base, off),) if size != 0 else ()
        case PercpuFree(off=off):
            return (("F", base, off), ("FB", base))
        case PercpuCreateChunk():
            return (("C", base),)
        case PercpuDestroyChunk():
            return (("D", base),)
    return ()


class SkewWindow:
    """The pending lines in the order they will be applied: first the lines
    taken early, in blocks of one CPU each (a CPU's lines keep their order,
    so those it had taken early stay together and move as one), then the
    others in log order, each in a one-element slot so that one taken early
    leaves an emptied slot behind rather than being removed from the middle
    of a deque."""

    def __init__(self, window_ns: int) -> None:
        self.window_ns = window_ns
        self._blocks: list[tuple[int, deque[Event]]] = []  # (cpu, its lines taken early)
        self._order: deque[list[Event | None]] = deque()  # the others, in slots
        self._slot: dict[int, list[Event | None]] = {}  # id(event) -> its slot
        self._unmoved: dict[int, deque[Event]] = {}  # each CPU's lines in slots, in order
        # key -> cpu -> lines not yet taken early, in order
        self._index: dict[Key, dict[int, deque[Event]]] = {}
        self._free_offsets: dict[int | None, list[int]] = {}  # base -> offsets freed, sorted
        self._frees_at: dict[tuple[int | None, int], int] = {}  # (base, off) -> pending frees
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __bool__(self) -> bool:
        return self._size > 0

    def __iter__(self) -> Iterator[Event]:
        """The pending lines in the order they will be applied."""
        for _, lines in self._blocks:
            yield from lines
        yield from (slot[0] for slot in self._order if slot[0] is not None)

    def append(self, event: Event) -> None:
        slot: list[Event | None] = [event]
        self._order.append(slot)
        self._slot[id(event)] = slot
        self._unmoved.setdefault(event.cpu, deque()).append(event)
        self._size += 1
        for key in explainer_keys(event):
            self._index.setdefault(key, {}).setdefault(event.cpu, deque()).append(event)
        if isinstance(event, PercpuFree):
            at = event.base_addr, event.off
            if (n := self._frees_at.get(at, 0)) == 0:
                bisect.insort(self._free_offsets.setdefault(event.base_addr, []), event.off)
            self._frees_at[at] = n + 1

    def oldest(self) -> Event:
        if self._blocks:
            return self._blocks[0][1][0]
        order = self._order
        while (event := order[0][0]) is None:
            order.popleft()
        return event

    def pop(self) -> Event:
        """Take the oldest line out of the window, to be applied."""
        self._size -= 1
        if self._blocks:
            lines = self._blocks[0][1]
            event = lines.popleft()
            if not lines:
                del self._blocks[0]
            return event
        event = self.oldest()
        self._order.popleft()
        del self._slot[id(event)]
        mine = self._unmoved[event.cpu]
        mine.popleft()  # the first of its CPU's lines
        if not mine:
            del self._unmoved[event.cpu]
        self._unindex(event)
        return event

    def _unindex(self, event: Event) -> None:
        """Out of the explainer index: it is the first indexed line of its
        CPU, so the head of each of its entries."""
        for key in explainer_keys(event):
            cpus = self._index[key]
            lines = cpus[event.cpu]
            lines.popleft()
            if not lines:
                del cpus[event.cpu]
                if not cpus:
                    del self._index[key]
        if isinstance(event, PercpuFree):
            at = event.base_addr, event.off
            if (n := self._frees_at[at]) > 1:
                self._frees_at[at] = n - 1
                return
            del self._frees_at[at]
            offsets = self._free_offsets[event.base_addr]
            del offsets[bisect.bisect_left(offsets, event.off)]
            if not offsets:
                del self._free_offsets[event.base_addr]

    def _first(self, key: Key, event: Event) -> Iterator[Event]:
        """Per other CPU, its first line under `key`, if inside the window."""
        for cpu, lines in self._index.get(key, {}).items():
            if cpu != event.cpu and lines[0].ts_ns - event.ts_ns <= self.window_ns:
                yield lines[0]

    def explainer(self, event: Event) -> Event | None:
        """The first line of another CPU, at most window_ns later and not yet
        taken early, that resolves `event`'s conflict when applied first: a
        free before an allocation of the area, an allocation before its
        free, a create before an allocation in the chunk, a destroy before a
        create."""
        base = event.base_addr  # type: ignore[attr-defined]
        keys: list[Key]
        match event:
            case PercpuAlloc(off=off, size=size):
                keys = [("C", base)]
                offsets = self._free_offsets.get(base, [])
                i = bisect.bisect_right(offsets, off - size)
                while i < len(offsets) and offsets[i] < off + size:
                    keys.append(("F", base, offsets[i]))
                    i += 1
            case PercpuFree(off=off):
                keys = [("A", base, off)]
            case PercpuDestroyChunk():
                keys = [("FB", base)]
            case PercpuCreateChunk():
                keys = [("D", base)]
            case _:
                return None
        found = [later for key in keys for later in self._first(key, event)]
        return min(found, key=lambda later: later.line, default=None)

    def take_early(self, event: Event, later: Event) -> None:
        """Put `later`, and its CPU's lines before it, in front of `event`
        (the oldest line); each line is taken early at most once."""
        cpu = later.cpu
        block = next((b for b in self._blocks if b[0] == cpu), None)
        if block is None:
            block = (cpu, deque())
        else:
            self._blocks.remove(block)
        self._blocks.insert(0, block)
        mine = self._unmoved[cpu]
        while True:
            line = mine.popleft()
            self._slot.pop(id(line))[0] = None
            self._unindex(line)
            block[1].append(line)
            if line is later:
                break
        if not mine:
            del self._unmoved[cpu]
