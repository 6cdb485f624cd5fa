"""check-trace --perfetto FILE: a checked log in the Trace Event Format
(the JSON that the Perfetto UI, ui.perfetto.dev, and chrome://tracing open),
so that a capture is looked at in the viewer kernel developers already use.

Per log file, three processes of tracks:
  "CPUs"   a thread per CPU: each percpu event as an instant (`i`) event;
  "tasks"  a thread per task (comm-pid): the same events, by who ran them
           (with their line number only, the CPU track's carry the fields);
  "chunks" a counter (`C`) per chunk: the bytes of its live areas, as the
           log shows them (areas allocated before the log are not counted);
and each finding of the check as a global instant event named after its kind,
carrying its line number, message and log line. Timestamps are the log's, in
microseconds, as the format wants.
"""

import json
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from percpu_mc.checker.logs.findings import Report
from percpu_mc.traces.events import (
    Event,
    PercpuAlloc,
    PercpuAllocFail,
    PercpuCreateChunk,
    PercpuDestroyChunk,
    PercpuFree,
    Record,
)

# The tracks of one file: pids CPUS, TASKS, CHUNKS + PIDS_PER_FILE * (its index).
CPUS, TASKS, CHUNKS = 1, 2, 3
PIDS_PER_FILE = 3

PERCPU = (PercpuAlloc, PercpuAllocFail, PercpuFree, PercpuCreateChunk, PercpuDestroyChunk)


def fields(event: Event) -> dict[str, Any]:
    """The event's tracepoint fields, addresses in hex as the log prints them."""
    out: dict[str, Any] = {}
    for name in ("base_addr", "off", "size", "align", "ptr", "bytes_alloc", "call_site"):
        value = getattr(event, name, None)
        if value is not None:
            out[name] = f"{value:#x}" if name in ("base_addr", "ptr") else value
    for name in ("reserved", "is_atomic"):
        if hasattr(event, name):
            out[name] = int(getattr(event, name))
    return out


@dataclass
class PerfettoTrace:
    """Feed it one log's records in order (beside the checker), then call
    events() with the checker's report."""

    path: str
    index: int = 0  # the file's place among those checked: its pids
    _events: list[dict] = field(default_factory=list)
    _cpus: set[int] = field(default_factory=set)
    _tasks: dict[int, str] = field(default_factory=dict)  # pid -> comm
    _live: dict[tuple[int, int], int] = field(default_factory=dict)  # (base, off) -> size
    _bytes: dict[int, int] = field(default_factory=dict)  # base -> live bytes
    _ts: array = field(default_factory=lambda: array("q"))  # line -> ts_ns (-1: no event)

    def _pid(self, kind: int) -> int:
        return kind + PIDS_PER_FILE * self.index

    def feed(self, record: Record) -> None:
        if not isinstance(record, Event):
            return
        ts = self._ts
        if len(ts) <= record.line:
            ts.extend([-1] * (record.line + 1 - len(ts)))
        ts[record.line] = record.ts_ns
        if not isinstance(record, PERCPU):
            return
        name = type(record).__name__
        instant = {
            "ph": "i",
            "s": "t",
            "name": EVENT_NAMES[name],
            "ts": record.ts_ns / 1000,
            "args": {"line": record.line, **fields(record), "text": record.text.strip()},
        }
        self._cpus.add(record.cpu)
        self._tasks.setdefault(record.pid, record.comm)
        self._events.append({**instant, "pid": self._pid(CPUS), "tid": record.cpu})
        # by task, the line number only: the CPU track's event has the rest
        by_task = {**instant, "args": {"line": record.line}}
        self._events.append({**by_task, "pid": self._pid(TASKS), "tid": record.pid})
        self._count(record)

    def _count(self, event: Event) -> None:
        """The live bytes of the event's chunk, when the event changes them."""
        match event:
            case PercpuAlloc(base_addr=int(base), off=off, size=size) if size > 0:
                self._live[base, off] = size
                self._bytes[base] = self._bytes.get(base, 0) + size
            case PercpuFree(base_addr=int(base), off=off) if (base, off) in self._live:
                self._bytes[base] -= self._live.pop((base, off))
            case _:
                return
        self._events.append(
            {
                "ph": "C",
                "name": f"live bytes, chunk {base:#x}",
                "pid": self._pid(CHUNKS),
                "tid": 0,
                "ts": event.ts_ns / 1000,
                "args": {"bytes": self._bytes[base]},
            }
        )

    def events(self, report: Report) -> Iterator[dict]:
        """The file's events: track names first, then the log's events, then
        the findings, each at its line's timestamp."""
        name = self.path
        for kind, what in ((CPUS, "CPUs"), (TASKS, "tasks"), (CHUNKS, "chunks")):
            yield metadata("process_name", self._pid(kind), 0, f"{name}: {what}")
            yield metadata("process_sort_index", self._pid(kind), 0, None, sort_index=kind)
        for cpu in sorted(self._cpus):
            yield metadata("thread_name", self._pid(CPUS), cpu, f"CPU {cpu}")
        for pid, comm in sorted(self._tasks.items()):
            yield metadata("thread_name", self._pid(TASKS), pid, f"{comm}-{pid}")
        yield from self._events
        findings = [(v.kind, v) for v in report.violations]
        for kind, finding in findings + [(f"note: {n.kind}", n) for n in report.notes]:
            ts = self._ts[finding.line] if finding.line < len(self._ts) else -1
            yield {
                "ph": "i",
                "s": "g",
                "name": kind,
                "pid": self._pid(CPUS),
                "tid": 0,
                "ts": max(ts, 0) / 1000,
                "args": {"line": finding.line, "message": finding.message, "text": finding.text},
            }


EVENT_NAMES = {
    "PercpuAlloc": "percpu_alloc_percpu",
    "PercpuAllocFail": "percpu_alloc_percpu_fail",
    "PercpuFree": "percpu_free_percpu",
    "PercpuCreateChunk": "percpu_create_chunk",
    "PercpuDestroyChunk": "percpu_destroy_chunk",
}


def metadata(name: str, pid: int, tid: int, value: str | None, **args: Any) -> dict:
    return {
        "ph": "M",
        "name": name,
        "pid": pid,
        "tid": tid,
        "args": {"name": value} if value is not None else args,
    }


def write(out: IO[str], traces: list[tuple[PerfettoTrace, Report]]) -> None:
    """One JSON document for every file, written event by event (a long log
    has millions)."""
    out.write('{"displayTimeUnit": "ns", "traceEvents": [\n')
    first = True
    for trace, report in traces:
        for event in trace.events(report):
            out.write(("" if first else ",\n") + json.dumps(event))
            first = False
    out.write("\n]}\n")
