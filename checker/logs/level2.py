"""check-trace --spec: level-2 conformance of one log file, at the spec's
model scale (the replay of checker/logs/conformance.py) or at real scale
(checker/logs/conformance_real.py), with the notes check-trace prints."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from percpu_mc.checker import specs
from percpu_mc.checker.logs.conformance import ModelReplay
from percpu_mc.checker.logs.conformance_real import RealReplay
from percpu_mc.checker.logs.exact import ExactResult, exact_replay
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
    undecided = ", ".join(f"{len(v)} {k}" for k, v in sorted(exact.not_decided.items()))
    return [
        f"exact placement ({version.generation} block hints, unit size {exact.unit_size} "
        f"bytes): {len(exact.checked)} allocations placed where the kernel's code places "
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


def conform_file(
    path: str,
    spec_name: str,
    strict: bool,
    unit_size: int | None,
    read: Callable[[str], Iterator[Record]],
    facts: LogFacts | None = None,
    partial: PartialView | None = None,
) -> Conformance:
    """Replay the log at `path` (read with `read`) against the spec; `facts`
    from the caller's own reading of the log, else from a first pass.  A
    partial capture (level 1 found some CPUs' events missing) is not judged:
    a run of the model explains every CPU's lines, and the missing CPUs'
    steps are neither unlogged steps nor an unknown past the replay could
    skip."""
    spec = specs.load(spec_name)
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
    p = spec.params
    if facts is None:
        facts = LogFacts()
        for rec in read(path):
            facts.feed(rec)
    if facts.model_scale(p):
        markers = ALL_MARKERS if every_step_traced(path) else facts.markers
        replay = ModelReplay(Model(p), strict, markers)
        for rec in read(path):
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
        return Conformance(spec.name, out.findings, notes)
    real = RealReplay(p, unit_size)
    for rec in read(path):
        real.feed(rec)
    real.finish()
    unit = f"unit size {unit_size} bytes (--unit-size)" if unit_size else "unit size unknown"
    version = hint_version(p)
    free = "population" if version else "offsets, population"
    notes = [
        f"real scale, 4 KiB pages, {unit}; {free} and the balance work's "
        "timing are free choices (over-approximated)"
    ] + real.notes
    findings = list(real.findings)
    exact = None
    if version is not None:
        # within a chunk the log saw created, placement is the kernel's own
        # rule (checker/logs/exact.py); destroying a chunk with areas is level 1's
        exact = exact_replay(read(path), unit_size, version)
        findings += [
            Violation(f.line, f.kind, f.message, f.text)
            for f in exact.findings
            if f.kind == "placement"
        ]
        notes += exact_notes(version, exact)
    if not findings:
        notes.append("no line contradicts the spec's code paths")
    return Conformance(
        spec.name, findings, notes, exact.not_decided_count if exact is not None else None
    )
