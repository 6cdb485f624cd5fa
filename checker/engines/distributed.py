"""One explicit-state search across a Dask cluster: the visited set
partitioned over the workers by a hash of the stored (canonical, packed)
state.

The search is the compiled engine's (checker/engines/compiled.py) cut into
levels.  Each worker holds one `Part`, a Dask actor: its share of the visited
set (a `search_t` of search.c), the packed states of its current frontier,
and for every state it owns the parent's global name and the operation that
produced it.  A level is two rounds, both driven by this process, which only
ever sees counts:

1. expand: every part expands its frontier natively, sorts the successors by
   owning part (batch_route in search.c) and sends each run straight to its
   owner's actor (worker to worker; runs are sent while the next chunk
   expands, so exchange overlaps expansion);
2. insert: every part inserts what it received, in a fixed order (by sender,
   then by the sender's order), into its visited set; the fresh states are
   its next frontier, and it reports, per property, the least packed fresh
   state that violates it.

Actors rather than futures: a part's visited set must stay in one process
across levels, and a future's result is immutable data that the scheduler
may move or recompute; an actor is a stateful object pinned to its worker,
and actor-to-actor calls move the successors without passing through the
scheduler or this process.

A state's global name is (part, level, position in that level's fresh
states); a part maps it to its local index because fresh states get
consecutive local indices.  The counterexample for a property is the least
packed violating state of the first level that has one (the same length as
the single-process engine's, whatever the number of workers), rebuilt by
asking each owner in turn for the state and its parent, then replayed on the
concrete interpretation (compiled.rebuild_run).

A worker lost mid-search takes its part of the visited set with it, and the
levels before cannot be recovered without it: the search stops with
`WorkerLost` (check-model: exit status 3) naming the last completed level.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from percpu_mc.checker.engines.compiled import CompiledStats, SearchError, rebuild_run
from percpu_mc.checker.engines.native import Native
from percpu_mc.checker.engines.part import Expanded, Inserted, Part, Task
from percpu_mc.checker.result import UNWATCHED, Holds, Result, Violated, Watch, interrupted
from percpu_mc.model.machine import Model
from percpu_mc.model.properties import Property

CONNECT_TIMEOUT = 5.0  # seconds to wait for a scheduler, and for its first worker
POLL = 1.0  # seconds between looks at the scheduler's workers while a round runs


class SchedulerUnreachable(RuntimeError):
    """No scheduler answered, or it has no workers: nothing was run."""


class WorkerLost(RuntimeError):
    """A worker, and its part of the visited set, went away mid-search."""


@dataclass
class DistributedStats(CompiledStats):
    workers: int = 0
    states_per_worker: list[int] = field(default_factory=list)
    bytes_per_worker: list[int] = field(default_factory=list)
    exchanged_per_level: list[int] = field(default_factory=list)  # sent to another worker
    expand_seconds: list[float] = field(default_factory=list)  # per worker, all levels
    exchange_seconds: list[float] = field(default_factory=list)
    insert_seconds: list[float] = field(default_factory=list)

    def doc(self) -> dict[str, Any]:
        """The JSON counts of a distributed run."""

        def r(xs: list[float]) -> list[float]:
            return [round(x, 3) for x in xs]

        return {
            "workers": self.workers,
            "distributed": {
                "states_per_worker": self.states_per_worker,
                "bytes_per_worker": self.bytes_per_worker,
                "exchanged_per_level": self.exchanged_per_level,
                "seconds_per_worker": {
                    "expand": r(self.expand_seconds),
                    "exchange": r(self.exchange_seconds),
                    "insert": r(self.insert_seconds),
                },
            },
        }


class DistributedEngine:
    """`scheduler`: a Dask scheduler's address (tcp://host:port), every worker
    of it taking a part; else a local cluster of `workers` processes."""

    def __init__(
        self,
        model: Model,
        props: list[Property],
        scheduler: str | None = None,
        workers: int = 2,
        reduce: bool = True,
    ):
        self.model = model
        self.props = props
        self.scheduler = scheduler
        self.workers = workers
        self.reduce = reduce

    def _client(self) -> tuple[Any, Any]:
        import logging

        from distributed import Client, LocalCluster  # only cluster runs need it

        if self.scheduler is None:
            cluster = LocalCluster(
                n_workers=self.workers,
                processes=True,
                threads_per_worker=1,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            return Client(cluster), cluster
        try:
            client = Client(self.scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as e:
            raise SchedulerUnreachable(
                f"no Dask scheduler answers at {self.scheduler} within {CONNECT_TIMEOUT:.0f}s ({e})"
            ) from None
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as e:
            client.close()
            raise SchedulerUnreachable(
                f"the scheduler at {self.scheduler} has no workers ({e})"
            ) from None
        return client, None

    def run(self, depth: int, watch: Watch = UNWATCHED) -> tuple[list[Result], DistributedStats]:
        start = time.monotonic()
        client, cluster = self._client()  # first: an absent scheduler is found before any work
        try:
            native = Native.load(self.model, self.props, depth)  # built once, cached for workers
            return self._search(client, native, depth, watch, start)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    def _search(
        self, client: Any, native: Native, depth: int, watch: Watch, start: float
    ) -> tuple[list[Result], DistributedStats]:
        ffi, lib = native.ffi, native.lib
        addresses = sorted(client.scheduler_info()["workers"])
        nparts = len(addresses)
        task = Task(self.model.p, tuple(p.name for p in self.props), depth, self.reduce)
        futures = [
            client.submit(
                Part,
                task,
                i,
                nparts,
                actor=True,
                workers=[a],
                allow_other_workers=False,
                pure=False,
            )
            for i, a in enumerate(addresses)
        ]
        level = 0

        def lost(e: Exception | None) -> WorkerLost | None:
            """WorkerLost when a part's worker left the scheduler (or the comm
            to it closed), else None."""
            alive = set(client.scheduler_info()["workers"])
            gone = [a for a in addresses if a not in alive]
            if not gone and not isinstance(e, OSError):
                return None
            who = f"worker {', '.join(gone)}" if gone else "a worker"
            why = f" ({type(e).__name__}: {e})" if e is not None else ""
            return WorkerLost(
                f"{who} was lost after level {level} of {depth} completed{why}; "
                "its part of the visited set is gone, so the search stopped"
            )

        def wait(calls: list[Any]) -> list[Any]:
            out = []
            for c in calls:
                while True:
                    try:
                        out.append(c.result(timeout=POLL))
                        break
                    except TimeoutError:
                        # a call to (or through) a dead worker's actor never returns
                        if (why := lost(None)) is not None:
                            raise why from None
                    except MemoryError as e:  # raised by a part: its machine is full
                        raise SearchError(f"out of memory on a worker ({e})") from None
                    except Exception as e:
                        if (why := lost(e)) is not None:
                            raise why from None
                        raise
            return out

        parts = wait(futures)
        stats = DistributedStats(
            words=native.layout.words,
            reduced=self.reduce,
            workers=nparts,
            expand_seconds=[0.0] * nparts,
            exchange_seconds=[0.0] * nparts,
            insert_seconds=[0.0] * nparts,
        )
        wait([p.connect(parts) for p in parts])
        init = ffi.new("uint64_t[]", native.layout.words)
        flat = native.layout.flatten(self.model.init())
        bad = lib.batch_pack(ffi.new("int64_t[]", flat), int(self.reduce), native.keep_all, init)
        if bad:
            raise SearchError(
                "the initial state's " + native.layout.slots[bad - 1].outside(flat[bad - 1])
            )
        counts = ffi.new("int64_t[]", nparts)  # batch_route of the one state: its owner
        lib.batch_route(
            init,
            ffi.new("int64_t[1]"),
            ffi.new("uint16_t[1]"),
            1,
            nparts,
            ffi.new("uint64_t[]", len(init)),
            ffi.new("int64_t[1]"),
            ffi.new("uint16_t[1]"),
            counts,
        )
        wait([parts[next(j for j in range(nparts) if counts[j])].seed(bytes(ffi.buffer(init)))])
        found: dict[int, tuple[int, int, int]] = {}  # property -> (level, part, position)
        exhaustive = False
        expand_wall = 0.0  # the last expand round's wall time, for the rates shown
        while True:
            t0 = time.monotonic()
            inserted: list[Inserted] = wait([p.insert() for p in parts])
            for i, ins in enumerate(inserted):
                stats.insert_seconds[i] += ins.seconds
            for k in range(len(self.props)):
                cands = [
                    (ins.violations[k][0], i, ins.violations[k][1])
                    for i, ins in enumerate(inserted)
                    if k in ins.violations
                ]
                if k not in found and cands:
                    _, i, pos = min(cands)
                    found[k] = (level, i, pos)
            stats.states = sum(ins.states for ins in inserted)
            stats.states_per_worker = [ins.states for ins in inserted]
            stats.bytes_per_worker = [ins.bytes for ins in inserted]
            wall = time.monotonic() - t0 + expand_wall
            for i, ins in enumerate(inserted):
                watch.note(
                    f"level {level}: worker {i} holds {ins.states} states "
                    f"(+{ins.fresh}, {ins.fresh / max(wall, 1e-9):,.0f} states/s)"
                )
            if level:
                watch.level(level, states=stats.states)
            if sum(ins.fresh for ins in inserted) == 0:
                exhaustive = True
                break
            if level == depth or len(found) == len(self.props) or watch.stopped():
                break
            t0 = time.monotonic()
            expanded: list[Expanded] = wait([p.expand() for p in parts])
            expand_wall = time.monotonic() - t0
            for i, ex in enumerate(expanded):
                if ex.error:
                    raise SearchError(ex.error)
                stats.expand_seconds[i] += ex.expand_seconds
                stats.exchange_seconds[i] += ex.exchange_seconds
                stats.transitions += ex.successors
            stats.exchanged_per_level.append(
                sum(ex.successors - ex.sent[i] for i, ex in enumerate(expanded))
            )
            level += 1
        stats.bytes = sum(stats.bytes_per_worker)
        seconds = time.monotonic() - start
        results = []
        for k, p in enumerate(self.props):
            if k in found:
                trace = rebuild_run(
                    self.model,
                    native,
                    self.reduce,
                    native.keep_all,
                    self._chain(parts, *found[k], wait),
                )
                results.append(Violated(p.name, trace, seconds, engine="explicit"))
            elif watch.stopped() and not exhaustive:
                results.append(replace(interrupted(p.name, level, seconds), engine="explicit"))
            else:
                results.append(Holds(p.name, depth, exhaustive, seconds, engine="explicit"))
        wait([p.close() for p in parts])
        stats.seconds = time.monotonic() - start
        return results, stats

    @staticmethod
    def _chain(
        parts: list[Any], level: int, part: int, pos: int, wait: Callable[[list[Any]], list[Any]]
    ) -> list[tuple[int, ...]]:
        """The stored states from the initial state to (level, part, pos),
        each asked of its owner."""
        chain = []
        while part >= 0:
            words, part, pos = wait([parts[part].record(level, pos)])[0]
            chain.append(words)
            level -= 1
        return chain[::-1]
