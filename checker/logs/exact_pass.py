"""The exact replay driven over a log (checker/logs/exact.py): in one
reading with level 1, its unit size given, read from the boot layout line or
inferred as the log goes, and its result's notes."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from percpu_mc.checker.logs.exact import ExactReplay
from percpu_mc.checker.logs.exact_result import ExactResult
from percpu_mc.checker.logs.exact_unit import FirstChunkLayout, UnitInference
from percpu_mc.model.bitmap_chunk import PAGE_SIZE, PCPU_MIN_ALLOC_SIZE, V6_1, HintVersion
from percpu_mc.traces.events import PercpuCreateChunk, Record


class ExactPass:
    """The exact replay fed during the one reading of a log that level 1
    makes.  Without a given unit size it is inferred as the log goes: the
    replay waits at the first chunk the log creates, holding at most
    HELD_RECORDS records, until two live chunks' stride gives the unit
    size (or the log ends, when the inference is final).  If the holding
    overflowed, or the final inference differs from the size used,
    `finish` replays the log again from `reread()`."""

    HELD_RECORDS = 65_536

    def __init__(
        self, unit_size: int | None, version: HintVersion, reread: Callable[[], Iterable[Record]]
    ) -> None:
        self.version = version
        self.reread = reread
        self.given = unit_size
        self.inference = UnitInference()
        self.replay = ExactReplay(unit_size or PAGE_SIZE, version)
        self.unit = unit_size  # the size the replay runs with, once known
        self.held: list[Record] | None = None  # records waiting for the unit size
        self.overflowed = False

    def feed(self, r: Record) -> None:
        if self.given is None:
            self.inference.feed(r)
            if self.unit is None:
                self.wait(r)
                return
        self.replay.feed(r)

    def wait(self, r: Record) -> None:
        """Before the unit size is known: a record before the first created
        chunk needs none; from there on, records are held."""
        if self.held is None:
            if not isinstance(r, PercpuCreateChunk):
                self.replay.feed(r)  # in chunks the log did not create: no unit needed
                return
            self.held = []
        if self.overflowed:
            return
        self.held.append(r)
        if (unit := self.inference.from_stride()) is not None:
            self.start(unit)
        elif len(self.held) > self.HELD_RECORDS:
            self.overflowed, self.held = True, []

    def start(self, unit: int) -> None:
        """Run the held records at `unit`."""
        self.unit = unit
        self.replay.map_bits = unit // PCPU_MIN_ALLOC_SIZE
        self.replay.result.unit_size = unit
        for held in self.held or ():
            self.replay.feed(held)
        self.held = []

    def finish(self) -> ExactReplay:
        """The replay, its result's notes saying how the unit size was had."""
        if self.given is not None:
            return self.replay
        unit, note = self.inference.result()
        if self.unit is None and not self.overflowed:
            self.start(unit)
        elif self.unit != unit or self.overflowed:
            self.replay = ExactReplay(unit, self.version)
            for r in self.reread():
                self.replay.feed(r)
        self.replay.result.notes.append(note)
        return self.replay


def exact_replay(
    records: Iterable[Record],
    unit_size: int | None = None,
    version: HintVersion = V6_1,
    layout: FirstChunkLayout | None = None,
) -> ExactResult:
    """Replay `records` exactly (see checker/logs/exact.py).  Without
    `unit_size` (or a `layout`, whose u value is the unit size) it is
    inferred from the log as the replay goes."""
    notes = []
    if unit_size is None and layout is not None:
        unit_size = layout.unit_size
        notes.append(f"unit size {unit_size} bytes from the boot layout line")
    records = records if isinstance(records, list | tuple) else list(records)
    one = ExactPass(unit_size, version, lambda: records)
    for r in records:
        one.feed(r)
    return finish_notes(one.finish(), notes, layout)


def finish_notes(
    replay: ExactReplay, notes: list[str], layout: FirstChunkLayout | None = None
) -> ExactResult:
    """The replay's result with its notes: how the unit size was had, the
    first chunk's layout, and the chunks whose prior state is unknown."""
    result = replay.result
    result.notes = notes + result.notes
    if layout is not None:
        result.notes.append(
            f"first chunk: static {layout.static_size}, reserved {layout.reserved_size}, "
            f"dynamic {layout.dyn_size} bytes"
        )
    if replay.lost_at is not None:
        result.notes.append(
            f"events were lost from line {replay.lost_at} on: the {len(replay.forgotten)} "
            "chunks followed until then are not decided after it (prior state unknown)"
        )
    for base, line in replay.prior.items():
        result.notes.append(
            f"chunk {base:#x}: not created in the log (first seen at line {line}); its state "
            "before the log is unknown, so its placements are not decided"
        )
    return result
