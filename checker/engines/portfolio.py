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
import threading
import time
from dataclasses import replace
from typing import Any, Callable

import z3

from percpu_mc.checker.engines.bmc import BMCEngine
from percpu_mc.checker.engines.build import CompilerMissing
from percpu_mc.checker.engines.compiled import CompiledEngine, SearchError
from percpu_mc.checker.result import (
    UNWATCHED,
    Result,
    RunStats,
    Unknown,
    Unwatched,
    Violated,
    Watch,
    interrupted,
)
from percpu_mc.model.machine import Model
from percpu_mc.model.properties import PROPERTIES, Property

# how long a stopped run waits for BMC's settled verdicts (Z3 is interrupted
# at once; only a counterexample's replay can still take a moment)
GRACE = 10.0


def memory_budget() -> int:
    """Half of the machine's physical memory, in bytes: the explicit search's share."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2


class _Asked(Unwatched):
    """The BMC process's watch: stopped once the parent asks over `conn`
    (or is gone); Z3 is interrupted at once, and BMC returns what it settled."""

    def __init__(self, conn: Any):
        self.asked = threading.Event()
        threading.Thread(target=self._wait, args=(conn,), daemon=True).start()

    def _wait(self, conn: Any) -> None:
        try:
            conn.recv()
        except (EOFError, OSError):
            pass
        self.asked.set()
        z3.main_ctx().interrupt()

    def stopped(self) -> bool:
        return self.asked.is_set()


def _bmc(conn: Any, asks: Any, model: Model, names: list[str], depth: int, lemmas: Any) -> None:
    # the parent alone answers signals (a Ctrl-C reaches the whole process
    # group): it asks this process over `asks` for the verdicts settled so far
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    engine = BMCEngine(model, [PROPERTIES[n] for n in names], lemmas)
    results, stats = engine.run(depth, watch=_Asked(asks))
    try:
        conn.send((results, stats))
        conn.close()
    except OSError:  # the parent is gone
        pass


def stronger(a: Result, b: Result) -> Result:
    """Of two verdicts on one property from runs that were both stopped, the
    one that settles more: a violation (the shorter), else the deeper search."""
    if isinstance(a, Violated) or isinstance(b, Violated):
        found = [r for r in (a, b) if isinstance(r, Violated)]
        return min(found, key=lambda r: r.depth)
    if isinstance(a, Unknown) and isinstance(b, Unknown) and b.depth > a.depth:
        return b
    return a if not isinstance(a, Unknown) or isinstance(b, Unknown) else b


class PortfolioEngine:
    def __init__(
        self,
        model: Model,
        props: list[Property],
        lemmas: Any = None,
        notice: Callable[[str], None] = lambda text: None,
    ):
        self.model = model
        self.props = props
        self.lemmas = lemmas
        # told at once when the explicit search cannot run (no C compiler)
        self.notice = notice

    def run(self, depth: int, watch: Watch = UNWATCHED) -> tuple[list[Result], RunStats]:
        start = time.monotonic()
        stop = watch.stopped
        note = ""  # why the verdicts come from BMC, if they do
        ctx = multiprocessing.get_context("fork")
        recv, send = ctx.Pipe(duplex=False)
        asked, ask = ctx.Pipe(duplex=False)
        bmc = ctx.Process(
            target=_bmc,
            args=(send, asked, self.model, [p.name for p in self.props], depth, self.lemmas),
            daemon=True,
        )
        bmc.start()
        send.close()
        asked.close()

        def settled() -> list[Result] | None:
            """BMC's verdicts once it is asked to stop (None: it sent none)."""
            try:
                ask.send(True)
                if recv.poll(GRACE):
                    results, _ = recv.recv()
                    return [replace(r, engine="bmc") for r in results]
            except (EOFError, OSError):
                pass
            return None

        try:
            explicit = CompiledEngine(self.model, self.props)
            # a stored state takes under 64 bytes; stop well before the machine swaps
            explicit.max_states = min(explicit.max_states, memory_budget() // 64)
            try:
                results, stats = explicit.run(depth, watch)
                if stop() and (other := settled()) is not None:
                    results = [stronger(a, b) for a, b in zip(results, other)]
                stats.seconds = time.monotonic() - start
                return results, stats
            except CompilerMissing as e:
                if not stop():  # else the signal killed the compiler: nothing to tell
                    self.notice(f"{e}; BMC alone settles this run, which can take minutes")
            except SearchError as e:
                note = f"explicit search stopped ({e}); verdicts from BMC"
            try:
                while not recv.poll(0.1):
                    if stop():
                        return settled() or [
                            interrupted(p.name, -1, time.monotonic() - start) for p in self.props
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
            ask.close()
            if bmc.is_alive():
                bmc.kill()
            bmc.join()
            recv.close()
