"""The starvation search of check-model --starvation SIZE: a lasso in which
atomic requests of SIZE cells starve, by the explicit search of every state
or by BMC (LassoEngine), or why there is none.  The explicit search is the
native one (checker/engines/liveness.py) under `explicit`, the Python
fair-SCC search (checker/engines/lasso.py's explore and fair_lasso, the
reference) under `explicit-python` or without a C compiler; both in the
kernel's list order unless `kernel_order` is False.  The command's front end
is checker/cli/starvation.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from percpu_mc.checker.engines import list_order
from percpu_mc.checker.engines.build import CompilerMissing
from percpu_mc.checker.engines.lasso import Lasso, LassoEngine, explore, fair_lasso
from percpu_mc.checker.engines.liveness import Liveness, LiveStats, Spurious, TooMany
from percpu_mc.model.machine import Model

UNKNOWN = "unknown"  # the search gave up: neither a lasso nor its absence


@dataclass(frozen=True)
class NoLasso:
    """No lasso found: `reason` says within what; not `settled`: the
    search gave up, so whether one exists is unknown."""

    reason: str
    settled: bool = True


@dataclass
class Searched:
    """What the search did: which search, and (native) its figures."""

    search: str = "bmc"
    stats: LiveStats | None = None
    notes: list[str] = field(default_factory=list)


def search(
    model: Model,
    size: int,
    engine: str,
    depth: int,
    limit: int,
    progress: Any = None,
    kernel_order: bool = False,
    searched: Searched | None = None,
) -> Lasso | NoLasso:
    searched = searched if searched is not None else Searched()
    what = " (in the kernel's list order)" if kernel_order else ""
    too_many = NoLasso(f"{UNKNOWN}: more than {limit} reachable states (--limit)", False)
    if engine == "explicit":
        try:
            live = Liveness(model, depth, kernel_order)
        except CompilerMissing as e:
            searched.notes.append(f"{e}: the Python search instead")
        else:
            searched.search = "native"
            try:
                lasso, stats = live.search(size, limit, progress)
            except TooMany:
                return too_many
            except Spurious as e:
                return NoLasso(
                    f"{UNKNOWN}: the lasso of the saturated counter's abstraction is "
                    f"spurious ({e}; docs/model.md, the saturated counter)",
                    False,
                )
            searched.stats = stats
            sat = (
                f", the counter saturated in {stats.saturated} successors (an "
                "over-approximation: docs/model.md, the saturated counter)"
                if stats.saturated
                else ""
            )
            return lasso or NoLasso(
                f"no fair starvation loop among all {stats.states} reachable states{what}{sat}"
            )
    if engine in ("explicit", "explicit-python"):
        searched.search = "python"
        g = explore(model, limit, refine=list_order.KernelOrder(model) if kernel_order else None)
        if g is None:
            return too_many
        lasso = fair_lasso(model, g, size)
        return lasso or NoLasso(
            f"no fair starvation loop among all {len(g.states)} reachable states{what}"
        )
    lasso, _ = LassoEngine(model, size).run(depth, progress)
    return lasso or NoLasso(f"none of at most {depth} steps (prefix + loop)")
