"""What the exact replay found: findings, lines checked, lines not decided
(by reason), and notes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ExactFinding:
    line: int
    kind: str  # "placement" | "atomic-unpopulated" | "create-while-fitting" | "destroy-not-free"
    message: str
    text: str


# Lines kept for each reason of "not decided" (the count goes on): a
# million-line log's undecided lines would grow memory with the log.
LINES_KEPT = 1000


@dataclass
class ExactResult:
    unit_size: int
    findings: list[ExactFinding] = field(default_factory=list)
    checked: int = 0  # allocations predicted and matched
    not_decided: dict[str, list[int]] = field(default_factory=dict)  # reason -> first lines
    undecided_counts: dict[str, int] = field(default_factory=dict)  # reason -> lines
    notes: list[str] = field(default_factory=list)

    @property
    def not_decided_count(self) -> int:
        return sum(self.undecided_counts.values())
