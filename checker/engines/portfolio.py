"""The default engine: the compiled explicit search and BMC side by side,
each property given the strongest verdict either reaches.

The explicit search runs in this process and BMC in a second one (the two
cores of a small machine).  Breadth-first search that completes settles
every property at once, and never more weakly than BMC: a violation at its
shortest length, `holds (every reachable state checked)` when the state
space is exhausted, else `holds up to depth N` for every run BMC would have
covered.  So BMC is stopped as soon as the search completes, and its
verdicts are used only when the search cannot complete (no C compiler, the
state limit, memory, or a field outside its packed range: a counter that
drifts without bound).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from dataclasses import replace
from typing import Any

from percpu_mc.checker.engines.bmc import BMCEngine
from percpu_mc.checker.engines.build import CompilerMissing
from percpu_mc.checker.engines.compiled import CompiledEngine, SearchError
from percpu_mc.checker.result import UNWATCHED, Result, RunStats, Unknown, Watch, interrupted
from percpu_mc.model.machine import Model
from percpu_mc.model.properties import PROPERTIES, Property


def memory_budget() -> int:
    """Half of the machine's physical memory, in bytes: the explicit search's share."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2


def _bmc(conn: Any, model: Model, names: list[str], depth: int, lemmas: Any) -> None:
    # the parent alone answers signals (it has this process terminated)
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    results, stats = BMCEngine(model, [PROPERTIES[n] for n in names], lemmas).run(depth)
    conn.send((results, stats))
    conn.close()


class PortfolioEngine:
    def __init__(self, model: Model, props: list[Property], lemmas: Any = None):
        self.model = model
        self.props = props
        self.lemmas = lemmas

    def run(self, depth: int, watch: Watch = UNWATCHED) -> tuple[list[Result], RunStats]:
        start = time.monotonic()
        stop = watch.stopped
        ctx = multiprocessing.get_context("fork")
        recv, send = ctx.Pipe(duplex=False)
        bmc = ctx.Process(
            target=_bmc,
            args=(send, self.model, [p.name for p in self.props], depth, self.lemmas),
            daemon=True,
        )
        bmc.start()
        send.close()
        try:
            explicit = CompiledEngine(self.model, self.props)
            # a stored state takes under 64 bytes; stop well before the machine swaps
            explicit.max_states = min(explicit.max_states, memory_budget() // 64)
            try:
                results, stats = explicit.run(depth, watch)
                stats.seconds = time.monotonic() - start
                return results, stats
            except (SearchError, CompilerMissing) as e:
                note = f"explicit search stopped ({e}); verdicts from BMC"
            try:
                while not recv.poll(0.1):
                    if stop():
                        return [
                            interrupted(p.name, 0, time.monotonic() - start) for p in self.props
                        ], RunStats(0, time.monotonic() - start, note=note)
                results, stats = recv.recv()
            except EOFError:
                return [
                    Unknown(p.name, "BMC ended without a verdict", depth, engine="bmc")
                    for p in self.props
                ], RunStats(0, time.monotonic() - start, note=note)
            return [replace(r, engine="bmc") for r in results], RunStats(
                stats.states, time.monotonic() - start, note=note
            )
        finally:
            if bmc.is_alive():
                bmc.terminate()
            bmc.join()
            recv.close()
