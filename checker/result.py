"""What an engine returns: one verdict per property, each with what backs it
(a depth searched, a counterexample trace, an induction proof, or why
nothing was settled), and the run's statistics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

from percpu_mc.model.machine import Trace


@dataclass(frozen=True)
class Holds:
    """No violation within `depth` steps (`exhaustive`: the explicit engine
    saw every reachable state, so none at any depth)."""

    prop: str
    depth: int
    exhaustive: bool = False
    seconds: float = 0.0
    engine: str = ""  # the engine that produced the verdict (the portfolio names it)
    # the property's premise never arose within the run (None: it has none,
    # or the engine did not ask)
    vacuous: bool | None = None
    verdict: ClassVar[str] = "holds"


@dataclass(frozen=True)
class Violated:
    """A shortest counterexample: its last state violates the property."""

    prop: str
    trace: Trace
    seconds: float = 0.0
    engine: str = ""  # the engine that produced the verdict (the portfolio names it)
    verdict: ClassVar[str] = "violated"

    @property
    def depth(self) -> int:
        """The counterexample's length in steps."""
        return len(self.trace.steps)


@dataclass(frozen=True)
class Proved:
    """Holds in every reachable state: k-inductive with the `lemmas`."""

    prop: str
    k: int
    lemmas: tuple[str, ...] = ()
    seconds: float = 0.0
    engine: str = ""  # the engine that produced the verdict (the portfolio names it)
    # the property's premise arose in no state of the base case's unrolling
    # (`base_depth` steps from the initial state; None: it has none)
    vacuous: bool | None = None
    base_depth: int = 0
    verdict: ClassVar[str] = "proved"


@dataclass(frozen=True)
class Unknown:
    """Nothing settled: the solver gave up at `depth`, or the proof failed
    and no violation was found; `reason` says which."""

    prop: str
    reason: str
    depth: int
    seconds: float = 0.0
    engine: str = ""  # the engine that produced the verdict (the portfolio names it)
    verdict: ClassVar[str] = "unknown"


Result = Holds | Violated | Proved | Unknown


@dataclass
class RunStats:
    states: int = 0
    seconds: float = 0.0
    # BMC: the lemmas proved invariant and asserted on every step (None: it
    # never tried to prove them)
    lemmas: tuple[str, ...] | None = None
    # why the verdicts come from a fallback (the portfolio's BMC), if they do
    note: str = ""


class Watch(Protocol):
    """What a running engine reports to and polls: `show` a line of progress
    redrawn in place, `level` once a depth is settled (named values: the
    states stored so far for a search, the seconds so far for a solver),
    `note` a line worth keeping (a distributed worker's share),
    `stopped()` true once the user asked the run to stop (SIGINT/SIGTERM);
    the engine then returns the verdicts settled so far, the others
    `interrupted`."""

    def show(self, text: str, states: int | None = None) -> None: ...

    def level(
        self, depth: int, *, states: int | None = None, seconds: float | None = None
    ) -> None: ...

    def note(self, text: str) -> None: ...

    def stopped(self) -> bool: ...


class Unwatched:
    """The watch of a run no one watches: nothing shown, never stopped."""

    def show(self, text: str, states: int | None = None) -> None:
        return None

    def level(self, depth: int, *, states: int | None = None, seconds: float | None = None) -> None:
        return None

    def note(self, text: str) -> None:
        return None

    def stopped(self) -> bool:
        return False


UNWATCHED = Unwatched()


INTERRUPTED = "interrupted"


def interrupted(prop: str, depth: int, seconds: float) -> Unknown:
    """No verdict: the run was stopped with no violation found up to `depth`."""
    return Unknown(prop, INTERRUPTED, depth, seconds)
