"""What the level-1 checker finds in a log (checker/logs/trace_check.py):
the kinds of findings, each finding, the report of one log, and what a
partial capture leaves unknown."""

from collections import Counter
from dataclasses import dataclass, field

from percpu_mc.traces.events import ParseError

# Stable names of the findings, as the CLI and --json print them.
KINDS = {
    "time-goes-back": "a CPU's timestamps decrease",
    "invalid-request": "size 0 or an alignment that is not a power of two",
    "misaligned": "the offset does not respect the requested alignment",
    "overlap": "an allocation overlaps a live area",
    "double-free": "an area is freed twice",
    "free-unknown": "an area that was never allocated is freed",
    "free-inside-area": "a free names an offset inside a live area",
    "free-in-destroyed-chunk": "a free in a destroyed chunk",
    "alloc-in-destroyed-chunk": "an allocation in a destroyed chunk",
    "alloc-unknown-chunk": "an allocation in a chunk never created (complete logs)",
    "reserved-chunk-mismatch": "a reserved allocation outside the one reserved chunk",
    "destroy-nonempty-chunk": "a chunk with live areas is destroyed",
    "destroy-destroyed-chunk": "a chunk is destroyed twice",
    "destroy-unknown-chunk": "a chunk never created is destroyed (complete logs)",
    "create-live-chunk": "a chunk is created at the address of a live chunk",
    "ptr-mismatch": "ptr disagrees with base_addr and off",
    "bytes-alloc-mismatch": "bytes_alloc is not the boot's fixed multiple of size",
}

# The findings that lines of CPUs missing from a partial capture explain: one
# free, allocation, creation or destruction on another CPU between two lines
# shown removes each. The other kinds rest on one line, on one CPU's clock or
# on a constant of the boot (the pointer offset, bytes_alloc per byte, the one
# reserved chunk), which no other CPU changes: they stay violations.
EXPLAINED_BY_OTHER_CPUS = frozenset(
    {
        "overlap",
        "double-free",
        "free-unknown",
        "free-inside-area",
        "free-in-destroyed-chunk",
        "alloc-in-destroyed-chunk",
        "alloc-unknown-chunk",
        "destroy-nonempty-chunk",
        "destroy-destroyed-chunk",
        "destroy-unknown-chunk",
        "create-live-chunk",
    }
)

# Findings kept for the report, of each kind; the rest are only counted (a
# broken kernel or a damaged log repeats one finding on every line).
KEPT_PER_KIND = 100

# Lines that do not parse kept for the report: enough to show what the file
# is; the rest are only counted (a binary file has thousands).
SHOWN_PARSE_ERRORS = 5


@dataclass(frozen=True, slots=True)
class Violation:
    line: int
    kind: str  # one of KINDS
    message: str  # why the line is impossible, in kernel terms
    text: str  # the line itself


@dataclass(frozen=True)
class PartialView:
    """A log that holds only some CPUs' events, and what that left unknown."""

    seen: tuple[int, ...]  # the CPUs whose lines the log holds
    cpus: int | None  # how many the machine had (the header's #P), if known
    why: str  # how the view was recognised
    unknown: Counter  # kind -> findings that the missing CPUs' lines may explain

    def as_json(self) -> dict:
        """For --json; "cpus" only when the header told it."""
        return {
            "cpus_seen": list(self.seen),
            **({"cpus": self.cpus} if self.cpus else {}),
            "unknown": dict(self.unknown),
        }

    def describe(self) -> str:
        of = f" of {self.cpus}" if self.cpus else ""
        cpus = ",".join(map(str, self.seen)) or "none"
        text = f"partial capture: CPUs {cpus}{of} seen ({self.why}); events of the others unknown"
        if self.unknown:
            kinds = ", ".join(f"{n} {kind}" for kind, n in self.unknown.most_common())
            text += f"; {sum(self.unknown.values())} lines only their events explain ({kinds})"
        return text


@dataclass
class Report:
    """Everything learnt from one log."""

    lines: int = 0
    events: Counter = field(default_factory=Counter)  # event name -> count
    skipped: int = 0  # events of no interest to the allocator
    features: list[str] = field(default_factory=list)  # kernel features the log shows
    violations: list[Violation] = field(default_factory=list)  # KEPT_PER_KIND of each kind
    left_out: Counter = field(default_factory=Counter)  # kind -> findings not kept
    parse_errors: list[ParseError] = field(default_factory=list)  # the first SHOWN_PARSE_ERRORS
    parse_error_count: int = 0  # every line that does not parse
    partial: PartialView | None = None  # set when the log lacks some CPUs' events
    notes: list[Violation] = field(default_factory=list)  # findings a gap leaves uncertain
    warnings: list[str] = field(default_factory=list)  # the input ends early, and where
    no_percpu_event: str | None = None  # why nothing could be checked, when so


def excerpt(text: str, width: int) -> str:
    """`text` as a terminal can show it: at most `width` characters, saying
    how many more there were, each non-printable character escaped."""
    shown: list[str] = []
    used = 0
    for i, char in enumerate(text):
        if not char.isprintable():
            char = char.encode("unicode_escape").decode("ascii")
        used += len(char)
        if used > width:
            return "".join(shown) + f" ... ({len(text) - i} more characters)"
        shown.append(char)
    return "".join(shown)
