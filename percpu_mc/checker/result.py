"""What an engine returns: a verdict per property, with a certificate or a trace."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from percpu_mc.model.machine import Trace

Verdict = Literal["holds", "violated", "unknown", "proved"]


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
    engine: str = ""          # the engine that produced the verdict (the portfolio names it)


@dataclass
class RunStats:
    states: int = 0
    seconds: float = 0.0
