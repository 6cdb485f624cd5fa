"""check-model --sweep and --mutants: many (spec, parameters, property, depth)
jobs, one table.

A job is self-contained (its Params are resolved before it is sent), so a
worker needs the package but not the spec files.  Jobs run on a process pool
of this machine (all cores by default) or on a Dask distributed cluster given
by its scheduler's address; either way the results come back in job order,
so the same sweep prints the same table wherever it ran.
"""

from __future__ import annotations

import itertools
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Sequence

from rich.table import Table

from percpu_mc.checker import specs
from percpu_mc.checker.engines.bmc import BMCEngine
from percpu_mc.checker.engines.explicit import ExplicitEngine
from percpu_mc.checker.errors import Failure
from percpu_mc.checker.result import Unwatched
from percpu_mc.model.machine import Model
from percpu_mc.model.params import Params, param_names
from percpu_mc.model.properties import PROPERTIES

# Kernel names a researcher may use for the Params fields they scale down.
ALIASES = {
    "PCPU_EMPTY_POP_PAGES_HIGH": "empty_pop_pages_high",
    "PCPU_EMPTY_POP_PAGES_LOW": "empty_pop_pages_low",
    "pcpu_unit_pages": "unit_pages",
}
TUPLE_PARAMS = ("sizes", "aligns")
DEPTH = "depth"  # a sweep dimension like the parameters
MUTANT_PREFIX = "inject-"


class SweepError(Failure):
    """A bad sweep argument: one message, exit status 2."""


@dataclass(frozen=True)
class Job:
    spec: str  # the spec's name, for the table
    overrides: tuple[tuple[str, Any], ...]  # the swept parameters' values
    params: Params  # the spec's parameters with the overrides
    prop: str
    depth: int
    engine: str  # "bmc" or "explicit"
    budget: float | None = None  # seconds; checked after each depth


@dataclass(frozen=True)
class JobResult:
    job: Job
    verdict: str  # holds, violated, unknown, or over-budget
    depth: int  # the shortest counterexample's length, or the depth reached
    seconds: float

    def outcome(self) -> tuple[str, int]:
        """What must not depend on where the job ran."""
        return self.verdict, self.depth


# --- parsing ------------------------------------------------------------------


def _int(text: str, where: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise SweepError(f"{where}: '{text}' is not an integer") from None


def parse_values(name: str, text: str) -> list[Any]:
    """`A..B` (inclusive), `a|b|c`, or one value; tuple parameters take
    comma lists (`sizes=1,2|1,4`)."""
    where = f"--param {name}={text}"
    if not text.strip():
        raise SweepError(f"{where}: no values (expected A..B, a|b|c or one value)")
    if name in TUPLE_PARAMS:
        out = []
        for alt in text.split("|"):
            if not alt.strip():
                raise SweepError(f"{where}: an empty alternative")
            out.append(tuple(_int(v.strip(), where) for v in alt.split(",")))
        return out
    if ".." in text:
        lo_s, _, hi_s = text.partition("..")
        lo, hi = _int(lo_s.strip(), where), _int(hi_s.strip(), where)
        if hi < lo:
            raise SweepError(f"{where}: empty range ({lo} > {hi})")
        return list(range(lo, hi + 1))
    return [_int(v.strip(), where) for v in text.split("|")]


def parse_param(arg: str) -> tuple[str, list[Any]]:
    """NAME=VALUES, NAME a Params field, a kernel alias of one, or `depth`."""
    name, eq, text = arg.partition("=")
    name = name.strip()
    if not eq:
        raise SweepError(f"--param {arg}: expected NAME=VALUES (e.g. empty_pop_pages_high=1..6)")
    field = ALIASES.get(name, name)
    known = param_names() + [DEPTH]
    if field not in known:
        raise SweepError(
            f"--param {arg}: unknown parameter '{name}' (expected one of: "
            f"{', '.join(known)}, or {', '.join(ALIASES)})"
        )
    return field, parse_values(field, text)


def build_jobs(
    spec_names: Sequence[str],
    param_args: Sequence[str],
    props: Sequence[str],
    depth: int | None,
    engines: Sequence[str],
    budget: float | None,
) -> list[Job]:
    """Every combination, in a fixed order: spec, parameters, depth, property, engine."""
    axes: dict[str, list[Any]] = {}
    for arg in param_args:
        name, values = parse_param(arg)
        if name in axes:
            raise SweepError(f"--param {name} given twice")
        axes[name] = values
    for p in props:
        if p not in PROPERTIES:
            raise SweepError(f"unknown property '{p}' (expected one of: {', '.join(PROPERTIES)})")
    jobs: list[Job] = []
    for name in spec_names:
        spec = specs.load(name)
        names = list(axes)
        for combo in itertools.product(*axes.values()):
            setting = dict(zip(names, combo))
            d = setting.pop(DEPTH, spec.depth if depth is None else depth)
            if d < 1:
                raise SweepError(f"depth must be at least 1, not {d}")
            params = replace(spec.params, **setting)
            errors = params.validate()
            if errors:
                shown = ", ".join(f"{k}={v}" for k, v in setting.items())
                raise SweepError(f"{spec.name} with {shown}: {'; '.join(why for _, why in errors)}")
            for prop in props or list(PROPERTIES):
                for engine in engines:
                    jobs.append(
                        Job(
                            spec.name,
                            tuple(sorted(setting.items())),
                            params,
                            prop,
                            d,
                            engine,
                            budget,
                        )
                    )
    if not jobs:
        raise SweepError("the sweep has no jobs")
    return jobs


# --- running ------------------------------------------------------------------


class _OverBudget(Exception):
    def __init__(self, depth: int):
        self.depth = depth


def run_job(job: Job) -> JobResult:
    """One engine on one property of one parameter set (runs in a worker)."""
    model = Model(job.params)
    props = [PROPERTIES[job.prop]]
    engine = (BMCEngine if job.engine == "bmc" else ExplicitEngine)(model, props)
    start = time.monotonic()

    class Budget(Unwatched):
        """Stops the job past its time budget, at the end of a depth."""

        def level(self, depth: int, **_: float | None) -> None:
            if job.budget is not None and time.monotonic() - start > job.budget:
                if depth < job.depth:
                    raise _OverBudget(depth)

    try:
        results, _ = engine.run(job.depth, Budget())
    except _OverBudget as e:
        return JobResult(job, "over-budget", e.depth, time.monotonic() - start)
    r = results[0]
    return JobResult(job, r.verdict, r.depth, time.monotonic() - start)


Done = Callable[[JobResult], None]


def run_local(
    jobs: Sequence[Job], workers: int | None = None, done: Done | None = None
) -> list[JobResult]:
    """A process pool of this machine: one process per core by default;
    `done` is told of each result as it comes."""
    workers = workers or os.cpu_count() or 1
    tell = done or (lambda r: None)
    out = []
    if workers == 1:
        for j in jobs:
            out.append(run_job(j))
            tell(out[-1])
        return out
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for r in pool.map(run_job, jobs, chunksize=1):
            out.append(r)
            tell(r)
    return out


def run_dask(jobs: Sequence[Job], scheduler: Any, done: Done | None = None) -> list[JobResult]:
    """A Dask distributed cluster: `scheduler` is its address
    (tcp://host:port) or a running cluster object.  Each job is its own task
    (pure=False: equal jobs still both run, each timed)."""
    from distributed import Client, as_completed  # imported here: only cluster runs need it

    with Client(scheduler) as client:
        futures = client.map(run_job, list(jobs), pure=False)
        for f in as_completed(futures):
            if done:
                done(f.result())
        return client.gather(futures)


def run(
    jobs: Sequence[Job],
    scheduler: str | None = None,
    workers: int | None = None,
    done: Done | None = None,
) -> list[JobResult]:
    if scheduler:
        return run_dask(jobs, scheduler, done)
    return run_local(jobs, workers, done)


# --- mutation score -------------------------------------------------------------


def mutant_specs() -> list[specs.Spec]:
    return [specs.load(n) for n in specs.available() if n.startswith(MUTANT_PREFIX)]


def mutant_jobs(engines: Sequence[str], depth: int | None, budget: float | None) -> list[Job]:
    """Per injected bug and engine: one job per property it must break, or,
    for a bug expected to be harmless, per property its spec argues it keeps
    (expect.why; every property it holds if it argues none)."""
    jobs = []
    for spec in mutant_specs():
        d = spec.depth if depth is None else depth
        for prop in spec.violated or [p for p in spec.holds if p in spec.notes] or spec.holds:
            for engine in engines:
                jobs.append(Job(spec.name, (), spec.params, prop, d, engine, budget))
    if not jobs:
        raise SweepError(f"no {MUTANT_PREFIX}*.toml specs under {specs.SPEC_DIR}")
    return jobs


@dataclass(frozen=True)
class MutantRow:
    spec: str
    expected: str  # the property it must break, or "harmless"
    caught: dict[str, str]  # engine -> "depth N" / "no" / "over budget" / "held to N"


def mutation_score(
    results: Sequence[JobResult],
) -> tuple[list[MutantRow], dict[str, tuple[int, int]]]:
    """Rows per mutant, and per engine (caught, mutants expected to be caught)."""
    by_spec: dict[str, list[JobResult]] = {}
    for r in results:
        by_spec.setdefault(r.job.spec, []).append(r)
    engines = list(dict.fromkeys(r.job.engine for r in results))
    score = {e: (0, 0) for e in engines}
    rows = []
    for name, rs in by_spec.items():
        spec = specs.load(name)
        harmless = not spec.violated
        cells = {}
        for e in engines:
            mine = [r for r in rs if r.job.engine == e]
            hit = [r for r in mine if r.verdict == "violated"]
            if harmless:
                cells[e] = (
                    f"violated {hit[0].job.prop} at {hit[0].depth}!"
                    if hit
                    else "over budget"
                    if any(r.verdict == "over-budget" for r in mine)
                    else f"held to {mine[0].job.depth}"
                )
                continue
            caught, total = score[e]
            if hit:
                caught += 1
                cells[e] = f"depth {min(r.depth for r in hit)}"
            else:
                cells[e] = "over budget" if any(r.verdict == "over-budget" for r in mine) else "no"
            score[e] = (caught, total + 1)
        checked = ", ".join(dict.fromkeys(r.job.prop for r in rs))
        rows.append(MutantRow(name, f"harmless ({checked} holds)" if harmless else checked, cells))
    return rows, score


# --- output -----------------------------------------------------------------------


def sweep_table(results: Iterable[JobResult]) -> Table:
    results = list(results)
    axes = list(dict.fromkeys(k for r in results for k, _ in r.job.overrides))
    t = Table(title="check-model --sweep")
    for col in ["spec", *axes, "property", "engine", "depth"]:
        t.add_column(col)
    t.add_column("verdict")
    t.add_column("counterexample", justify="right")
    t.add_column("seconds", justify="right")
    for r in results:
        ov = dict(r.job.overrides)
        vals = [
            ",".join(map(str, v)) if isinstance(v, tuple) else str(v)
            for v in (ov.get(a, "") for a in axes)
        ]
        t.add_row(
            r.job.spec,
            *vals,
            r.job.prop,
            r.job.engine,
            str(r.job.depth),
            r.verdict,
            str(r.depth) if r.verdict == "violated" else "",
            f"{r.seconds:.2f}",
        )
    return t


def mutants_table(
    rows: Sequence[MutantRow], score: dict[str, tuple[int, int]], depth_note: str
) -> Table:
    engines = list(score)
    t = Table(title=f"injected bugs caught ({depth_note})")
    t.add_column("mutant")
    t.add_column("must break (or keep)")
    for e in engines:
        t.add_column(e)
    for row in rows:
        t.add_row(row.spec, row.expected, *[row.caught.get(e, "") for e in engines])
    t.add_row("[bold]caught[/bold]", "", *[f"{c}/{n}" for c, n in score.values()])
    return t


def result_doc(r: JobResult) -> dict[str, Any]:
    return {
        "spec": r.job.spec,
        "params": {k: list(v) if isinstance(v, tuple) else v for k, v in r.job.overrides},
        "property": r.job.prop,
        "engine": r.job.engine,
        "depth": r.job.depth,
        "verdict": r.verdict,
        "counterexample_depth": r.depth if r.verdict == "violated" else None,
        "seconds": round(r.seconds, 3),
    }
