"""One chunk as a log shows it: its live areas, indexed by offset, and the
offsets freed and not reused (checker/logs/shadow.py keeps one per chunk)."""

import bisect
from dataclasses import dataclass, field
from typing import NamedTuple


class Area(NamedTuple):
    """A live allocation: [off, off + size) of its chunk."""

    off: int
    size: int
    ptr: int | None
    line: int


@dataclass(slots=True)
class Chunk:
    """What the log has shown of one chunk since the last gap."""

    base: int
    created: int | None = None  # line of its percpu_create_chunk in the log
    destroyed: int | None = None  # line of its percpu_destroy_chunk
    starts: list[int] = field(default_factory=list)  # sorted live offsets
    areas: dict[int, Area] = field(default_factory=dict)  # live, by offset
    freed: dict[int, int] = field(default_factory=dict)  # offset -> line of its free

    def overlapping(self, off: int, end: int) -> list[Area]:
        """Live areas that intersect [off, end); live areas never intersect
        each other, so only the one before `off` can reach into it. An empty
        range [off, off) intersects nothing, not even an area around `off`."""
        if end <= off:
            return []
        i = bisect.bisect_right(self.starts, off)
        if i and (before := self.areas[self.starts[i - 1]]).off + before.size > off:
            i -= 1
        found = []
        while i < len(self.starts) and self.starts[i] < end:
            found.append(self.areas[self.starts[i]])
            i += 1
        return found

    def add(self, area: Area) -> None:
        """Live areas are disjoint and not empty (see _alloc): each start is
        one area's."""
        bisect.insort(self.starts, area.off)
        self.areas[area.off] = area
        self.freed.pop(area.off, None)

    def remove(self, area: Area) -> None:
        del self.areas[area.off]
        del self.starts[bisect.bisect_left(self.starts, area.off)]
