"""The starvation search of check-model --starvation SIZE: a lasso in which
atomic requests of SIZE cells starve, by the explicit search of every state
(checker/engines/lasso.py's explore and fair_lasso) or by BMC
(LassoEngine), or why there is none.  The command's front end is
checker/cli/starvation.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from percpu_mc.checker.engines import list_order
from percpu_mc.checker.engines.build import CompilerMissing
from percpu_mc.checker.engines.lasso import Lasso, LassoEngine, explore, fair_lasso
from percpu_mc.checker.engines.native import Native
from percpu_mc.model.machine import Model

UNKNOWN = "unknown"  # the search gave up: neither a lasso nor its absence


@dataclass(frozen=True)
class NoLasso:
    """No lasso found: `reason` says within what; not `settled`: the
    search gave up, so whether one exists is unknown."""

    reason: str
    settled: bool = True


def search(
    model: Model,
    size: int,
    engine: str,
    depth: int,
    limit: int,
    progress: Any = None,
    kernel_order: bool = False,
) -> Lasso | NoLasso:
    if engine in ("explicit", "explicit-python"):
        native = None
        if engine == "explicit" and not kernel_order:
            try:
                native = Native.load(model, [], depth)
            except CompilerMissing:
                native = None  # the concrete interpretation explores the same graph
        g = explore(
            model,
            limit,
            refine=list_order.KernelOrder(model) if kernel_order else None,
            native=native,
        )
        if g is None:
            return NoLasso(f"{UNKNOWN}: more than {limit} reachable states (--limit)", False)
        lasso = fair_lasso(model, g, size)
        what = " (with the kernel's list order)" if kernel_order else ""
        return lasso or NoLasso(
            f"no fair starvation loop among all {len(g.states)} reachable states{what}"
        )
    lasso, _ = LassoEngine(model, size).run(depth, progress)
    return lasso or NoLasso(f"none of at most {depth} steps (prefix + loop)")
