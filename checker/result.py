"""What an engine returns: a verdict per property, with a certificate or a trace."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from model.state import State

Verdict = Literal["holds", "violated", "unknown", "proved"]


@dataclass(frozen=True)
class TraceStep:
    action: int                 # index into Model.actions
    choices: dict[str, int]     # only the action's own choices
    state: State                # the state after the step


@dataclass(frozen=True)
class Trace:
    """A run from the initial state; its last state violates the property."""
    init: State
    steps: tuple[TraceStep, ...]


@dataclass
class Result:
    prop: str
    verdict: Verdict
    depth: int                  # counterexample length, or the depth checked
    trace: Trace | None = None
    exhaustive: bool = False    # explicit engine: every reachable state was seen
    reason: str = ""            # why the verdict is unknown
    invariants: tuple[str, ...] = ()  # proved: the lemmas proved with it (checker/induction.py)
    seconds: float = 0.0


@dataclass
class RunStats:
    states: int = 0
    seconds: float = 0.0
