"""The --sweep and --mutants modes of check-model: arguments, the run, the table."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from percpu_mc.checker import sweep
from percpu_mc.checker.cli.common import at_least, fail
from percpu_mc.checker.errors import Failure


def add_arguments(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("sweeps (--sweep, --mutants)")
    g.add_argument(
        "--sweep",
        action="store_true",
        help="run one job per (spec, parameters, property, depth, engine) and print "
        "one table; --spec takes a comma-separated list here",
    )
    g.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUES",
        help="a swept parameter (repeatable): a Params field or kernel name "
        "(PCPU_EMPTY_POP_PAGES_HIGH), or depth; VALUES is A..B, a|b|c or one "
        "value; sizes/aligns take comma lists (sizes=1,2|1,4)",
    )
    g.add_argument(
        "--mutants",
        action="store_true",
        help="mutation score: each specs/inject-*.toml on the property it must "
        "break, per engine (--engines), at --depth (default: each spec's)",
    )
    g.add_argument(
        "--engines",
        default=None,
        metavar="E,E",
        help="engines of a sweep, comma-separated (default: --engine; --mutants: bmc,explicit)",
    )
    g.add_argument(
        "--budget",
        type=at_least(0, float, above=True),
        default=None,
        metavar="SECONDS",
        help="per job; a job past it stops after its current depth: over-budget",
    )
    g.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run the jobs on a Dask distributed cluster (tcp://host:port) "
        "instead of this machine's cores",
    )
    g.add_argument(
        "--workers", type=at_least(1), default=None, help="local processes (default: one per core)"
    )


# A sweep's jobs already fill the cores one each: the portfolio (two
# processes a job) would oversubscribe them, so a sweep without --engines
# runs BMC, as it did before the portfolio.
SWEEP_ENGINE = {"portfolio": "bmc"}


def _engines(args: argparse.Namespace, default: str) -> list[str]:
    names = [e.strip() for e in (args.engines or default).split(",") if e.strip()]
    for e in names:
        if e not in ("bmc", "explicit"):
            raise sweep.SweepError(f"--engines: unknown engine '{e}' (expected bmc or explicit)")
    if not names:
        raise sweep.SweepError("--engines: no engine given")
    return names


def progress(total: int) -> sweep.Done:
    """One line on stderr per finished job, terminal or not: a sweep runs
    for minutes."""
    count = [0]

    def done(r: sweep.JobResult) -> None:
        count[0] += 1
        print(
            f"check-model: {count[0]}/{total} jobs done: {r.job.spec} {r.job.prop} "
            f"({r.job.engine}): {r.verdict} at depth {r.depth}, {r.seconds:.1f}s",
            file=sys.stderr,
            flush=True,
        )

    return done


def main(args: argparse.Namespace) -> int:
    out = Console(width=160, soft_wrap=True)
    try:
        if args.mutants:
            if args.param:
                raise sweep.SweepError("--mutants takes no --param (each mutant is its own spec)")
            jobs = sweep.mutant_jobs(_engines(args, "bmc,explicit"), args.depth, args.budget)
        else:
            names = [n.strip() for n in args.spec.split(",") if n.strip()]
            jobs = sweep.build_jobs(
                names,
                args.param,
                args.properties or [],
                args.depth,
                _engines(args, SWEEP_ENGINE.get(args.engine, args.engine)),
                args.budget,
            )
    except Failure as e:  # a bad spec, parameter or option
        return fail("check-model", e, args.json)
    try:
        results = sweep.run(jobs, args.scheduler, args.workers, progress(len(jobs)))
    except OSError as e:  # distributed raises OSError when no scheduler answers
        if not args.scheduler:
            raise
        return fail("check-model", Failure(f"--scheduler {args.scheduler}: {e}"), args.json)
    if args.json:
        doc: dict = {"jobs": [sweep.result_doc(r) for r in results]}
        if args.mutants:
            rows, score = sweep.mutation_score(results)
            doc["mutants"] = [
                {"spec": r.spec, "must_break": r.expected, "caught": r.caught} for r in rows
            ]
            doc["score"] = {e: {"caught": c, "of": n} for e, (c, n) in score.items()}
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
    elif args.mutants:
        rows, score = sweep.mutation_score(results)
        note = f"depth {args.depth}" if args.depth else "each spec's expect.depth"
        if args.budget:
            note += f", budget {args.budget:g}s a job"
        out.print(sweep.mutants_table(rows, score, note))
    else:
        out.print(sweep.sweep_table(results))
    if args.mutants:
        return 0
    return 1 if any(r.verdict == "violated" for r in results) else 0
