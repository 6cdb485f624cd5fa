"""check-trace --spec: level-2 conformance of one log file, at the spec's
model scale (the replay of checker/logs/conformance.py) or at real scale
(checker/logs/conformance_real.py), with the notes check-trace prints."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from percpu_mc.checker import specs
from percpu_mc.checker.logs.conformance import ModelReplay
from percpu_mc.checker.logs.conformance_real import RealReplay
from percpu_mc.checker.logs.exact_pass import ExactPass, finish_notes
from percpu_mc.checker.logs.exact_result import ExactResult
from percpu_mc.checker.logs.findings import PartialView, Violation
from percpu_mc.checker.logs.replay_lines import marker_key
from percpu_mc.model.bitmap_chunk import V4_14, V5_2, HintVersion
from percpu_mc.model.machine import Model
from percpu_mc.model.params import Params
from percpu_mc.traces.events import PercpuAlloc, PercpuAllocFail, Record
from percpu_mc.traces.input import open_log
from percpu_mc.traces.observe import ALL_MARKERS
from percpu_mc.traces.writer import EVERY_STEP_TRACED, HEADER_LINES, cell_bytes


class LogFacts:
    """What the replay must know of a log before it starts, gathered while
    level 1 reads it: the marker names the log shows, and the requests'
    (size, align) pairs in bytes (is the log at a spec's model scale?)."""

    def __init__(self) -> None:
        self.markers: set[tuple[str, str]] = set()
        self.requests: set[tuple[int, int]] = set()

    def feed(self, record: Record) -> None:
        if (k := marker_key(record)) is not None:
            self.markers.add(k)
        elif isinstance(record, (PercpuAlloc, PercpuAllocFail)):
            self.requests.add((record.size, record.align))

    def model_scale(self, p: Params) -> bool:
        """Every request of the log is one of the spec's, at one cell =
        PAGE_SIZE / cells_per_page bytes."""
        cell = cell_bytes(p)
        sizes = {s * cell for s in p.sizes}
        aligns = {a * cell for a in p.aligns}
        return bool(self.requests) and all(s in sizes and a in aligns for s, a in self.requests)


def hint_version(p: Params) -> HintVersion | None:
    """The block-hint code a spec's allocator places areas with: none before
    the bitmap allocator (40064aeca35c, v4.14); v5.2's from "percpu: manage
    chunks based on contig_bits instead of free_bytes" on."""
    if p.switches.area_map != "bitmap":
        return None
    return V5_2 if p.switches.chunk_slot == "contig-hint" else V4_14


def exact_notes(version: HintVersion, exact: ExactResult) -> list[str]:
    """What the exact replay decided, in check-trace's notes."""
    undecided = ", ".join(f"{n} {k}" for k, n in sorted(exact.undecided_counts.items()))
    return [
        f"exact placement ({version.generation} block hints, unit size {exact.unit_size} "
        f"bytes): {exact.checked} allocations placed where the kernel's code places "
        f"them, {exact.not_decided_count} not decided" + (f" ({undecided})" if undecided else "")
    ] + exact.notes


@dataclass
class Conformance:
    """What check-trace --spec adds to a file's report: the level-2
    findings, and notes on the scale and on how far the replay got."""

    spec: str
    findings: list[Violation]
    notes: list[str]
    # real-scale logs of the bitmap allocator: the allocations whose place
    # the log leaves open (None: no exact replay)
    not_decided: int | None = None

    def lines(self) -> list[str]:
        """The notes as check-trace shows them."""
        return [f"conformance ({self.spec}): {n}" for n in self.notes]


def every_step_traced(path: str) -> bool:
    """Does the log's header (as check-model writes it) claim that every
    unlogged step printed its function or probe line?"""
    with open_log(path) as lines:
        for _, line in zip(range(HEADER_LINES), lines):
            if line.startswith("# percpu-mc:") and EVERY_STEP_TRACED in line:
                return True
    return False


class Level2:
    """check-trace --spec's replay of one file, fed the records of the one
    reading level 1 makes.  Whether the log is at the spec's model scale is
    known only at its end (every request one of the spec's sizes), so the
    real-scale replays (conformance_real.py, and exact.py for the bitmap
    allocator) run as the records come, and a log at model scale is read a
    second time by the model's replay, which needs the markers the whole
    log shows; model-scale logs are short."""

    def __init__(
        self,
        spec_name: str,
        strict: bool,
        unit_size: int | None,
        path: str,
        read: Callable[[str], Iterator[Record]],
    ) -> None:
        self.spec = specs.load(spec_name)
        self.strict, self.unit_size, self.path, self.read = strict, unit_size, path, read
        self.facts = LogFacts()
        self.real = RealReplay(self.spec.params, unit_size)
        self.version = hint_version(self.spec.params)
        self.exact = (
            ExactPass(unit_size, self.version, lambda: read(path))
            if self.version is not None
            else None
        )

    def feed(self, record: Record) -> None:
        self.facts.feed(record)
        self.real.feed(record)
        if self.exact is not None:
            self.exact.feed(record)

    def finish(self, partial: PartialView | None = None) -> Conformance:
        """The file's conformance.  A partial capture (level 1 found some
        CPUs' events missing) is not judged: a run of the model explains
        every CPU's lines, and the missing CPUs' steps are neither unlogged
        steps nor an unknown past the replay could skip."""
        spec, p = self.spec, self.spec.params
        if partial is not None:
            cpus = ",".join(map(str, partial.seen)) or "none"
            return Conformance(
                spec.name,
                [],
                [
                    f"conformance not decided: a partial capture (CPUs {cpus} seen); "
                    "check the merged trace of every CPU"
                ],
            )
        if self.facts.model_scale(p):
            return self.model_scale()
        real = self.real
        real.finish()
        unit = (
            f"unit size {self.unit_size} bytes (--unit-size)"
            if self.unit_size
            else "unit size unknown"
        )
        free = "population" if self.version else "offsets, population"
        notes = [
            f"real scale, 4 KiB pages, {unit}; {free} and the balance work's "
            "timing are free choices (over-approximated)"
        ] + real.notes
        findings = list(real.findings)
        exact = None
        if self.exact is not None and self.version is not None:
            # within a chunk the log saw created, placement is the kernel's
            # own rule (checker/logs/exact.py); destroying a chunk with
            # areas is level 1's
            exact = finish_notes(self.exact.finish(), [])
            findings += [
                Violation(f.line, f.kind, f.message, f.text)
                for f in exact.findings
                if f.kind != "destroy-not-free"
            ]
            notes += exact_notes(self.version, exact)
        if not findings:
            notes.append("no line contradicts the spec's code paths")
        return Conformance(
            spec.name, findings, notes, exact.not_decided_count if exact is not None else None
        )

    def model_scale(self) -> Conformance:
        """The model's own replay of the log, a second reading."""
        p = self.spec.params
        markers = ALL_MARKERS if every_step_traced(self.path) else self.facts.markers
        replay = ModelReplay(Model(p), self.strict, markers)
        for rec in self.read(self.path):
            replay.feed(rec)
        out = replay.finish()
        geometry = (
            f"model scale: one cell = {cell_bytes(p)} bytes, units of {p.unit_pages} "
            f"pages, {p.nr_chunks} chunk structs, {p.nr_contexts} allocating contexts "
            "(the spec's geometry: every request is one of its sizes)"
        )
        notes = [geometry] + out.notes
        if not out.findings and out.decided:
            notes.append(f"every line explained (at most {out.max_candidates} candidate states)")
        return Conformance(self.spec.name, out.findings, notes)


def conform_file(
    path: str,
    spec_name: str,
    strict: bool,
    unit_size: int | None,
    read: Callable[[str], Iterator[Record]],
) -> Conformance:
    """Replay the log at `path` (read with `read`) against the spec."""
    level2 = Level2(spec_name, strict, unit_size, path, read)
    for rec in read(path):
        level2.feed(rec)
    return level2.finish()
