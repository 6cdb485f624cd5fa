"""The engine contract: what check-model asks of every engine, and the one
table it picks them from.

An engine is built from the model, the properties to check and the run's
options (its constructor takes what it needs of them), and then only
`run(depth, watch)` is called: one result per property, in the order
given, and the run's statistics.  Progress goes to the watch as named
values (checker/result.py's `Watch.level`: the states a search stored,
the seconds a solver spent), and a stop the user asked for is polled
there.  Adding an engine is one entry in `ENGINES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from percpu_mc.checker.engines import strengthen
from percpu_mc.checker.engines.bmc import BMCEngine
from percpu_mc.checker.engines.compiled import CompiledEngine
from percpu_mc.checker.engines.distributed import DistributedEngine
from percpu_mc.checker.engines.explicit import ExplicitEngine
from percpu_mc.checker.engines.induction import InductionEngine
from percpu_mc.checker.engines.list_order import KernelOrder
from percpu_mc.checker.engines.portfolio import PortfolioEngine
from percpu_mc.checker.result import UNWATCHED, Result, RunStats, Watch
from percpu_mc.model.machine import Model
from percpu_mc.model.properties import Property


class Engine(Protocol):
    def run(self, depth: int, watch: Watch = UNWATCHED) -> tuple[list[Result], RunStats]: ...


@dataclass(frozen=True)
class Options:
    """The command line's engine options, each read by the engines it concerns."""

    symmetry: bool = True  # explicit: one state per symmetry class
    split: bool = False  # explicit: a search per history cone
    lemmas: bool = True  # bmc, portfolio: prove and assert model/invariants.py's lemmas
    max_k: int = 2  # induction: the largest k
    kernel_order: bool = False  # explicit-python: track the kernel's list order
    scheduler: str | None = None  # distributed: a Dask scheduler's address
    workers: int = 0  # distributed: local worker processes
    # portfolio: told at once why the run will be slower (no C compiler)
    notice: Callable[[str], None] = lambda text: None


def _lemmas(o: Options) -> Callable | None:
    return strengthen.proved_lemmas if o.lemmas else None


Build = Callable[[Model, list[Property], Options], Engine]

ENGINES: dict[str, Build] = {
    "portfolio": lambda m, props, o: PortfolioEngine(m, props, _lemmas(o), o.notice),
    "bmc": lambda m, props, o: BMCEngine(m, props, _lemmas(o)),
    "explicit": lambda m, props, o: CompiledEngine(m, props, o.symmetry, split=o.split),
    "explicit-python": lambda m, props, o: ExplicitEngine(
        m, props, KernelOrder(m) if o.kernel_order else None
    ),
    "distributed": lambda m, props, o: DistributedEngine(
        m, props, o.scheduler, o.workers, o.symmetry
    ),
    "induction": lambda m, props, o: InductionEngine(m, props, max_k=o.max_k),
}


def build(name: str, model: Model, props: list[Property], options: Options) -> Engine:
    """The engine `name` of ENGINES, built for this run."""
    return ENGINES[name](model, props, options)
