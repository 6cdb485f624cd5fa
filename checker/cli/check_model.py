"""check-model: check a spec's properties with BMC or explicit-state search."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from typing import Any

import z3
from rich.console import Console

from percpu_mc.checker import specs
from percpu_mc.checker.cli import starvation
from percpu_mc.checker.cli import sweep as sweep_cli
from percpu_mc.checker.cli.common import (
    Interrupt,
    Interrupted,
    Status,
    fail,
    quiet_closed_stdout,
    say_interrupted,
    showing,
    stderr_console,
    stdout_console,
    wants_json,
)
from percpu_mc.checker.cli.model_args import emit_log_usage_error, parse_args
from percpu_mc.checker.engines import contract, coverage, distributed
from percpu_mc.checker.engines.build import CompilerMissing
from percpu_mc.checker.engines.compiled import CompiledStats, SearchError
from percpu_mc.checker.errors import Failure
from percpu_mc.checker.logs import emit_log
from percpu_mc.checker.parametric import report as every_geometry
from percpu_mc.checker.report import counterexample, itf
from percpu_mc.checker.report import html as html_report
from percpu_mc.checker.report.text import human
from percpu_mc.checker.result import Holds, Proved, Result, RunStats, Unknown, Violated
from percpu_mc.model.machine import Model
from percpu_mc.model.properties import PROPERTIES


def own_name(spec: specs.Spec, err: Console) -> specs.Spec:
    """A spec read from a file outside the shipped ones that names a shipped
    spec (a copy) runs under its file's name, and an edited copy that kept
    its [expect] is not held to those expectations (they were written for
    the original); a spec of a name of its own keeps it."""
    if spec.path.resolve().parent == specs.SPEC_DIR.resolve():
        return spec
    if spec.name not in specs.available():
        return spec
    own = replace(spec, name=spec.path.stem)
    shipped = specs.load(spec.name)
    copied = (spec.violated, spec.holds, spec.depth) == (
        shipped.violated,
        shipped.holds,
        shipped.depth,
    )
    if copied and spec.params != shipped.params:
        err.print(
            f"check-model: {spec.path}: an edited copy of spec {spec.name} with its [expect]: "
            f"the verdicts are not compared with {spec.name}'s expectations",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        return replace(own, violated=(), holds=())
    return own


def run(
    args: argparse.Namespace, err: Console, watch: Interrupt | None = None
) -> tuple[dict[str, Any], list[Result], Model]:
    watch = watch or Interrupt()  # not installed: never stops
    spec = own_name(specs.load(args.spec), err)
    depth = spec.depth if args.depth is None else args.depth
    names = args.properties or list(PROPERTIES)
    for n in names:
        if n not in PROPERTIES:
            raise Failure(f"unknown property '{n}' (expected one of: {', '.join(PROPERTIES)})")
    for path in (args.html, args.itf):
        if path and (why := html_report.unwritable(path)):
            raise Failure(why)
    if (bad := emit_log_usage_error(args)) is not None:
        raise Failure(bad)
    model = Model(spec.params)
    if args.simulate is not None:
        path = emit_log.emit_simulation(args.emit_log, spec.name, model, args.simulate, args.seed)
        err.print(f"wrote {path}", highlight=False, markup=False)
        return {"spec": spec.name, "simulated": str(path), "results": []}, [], model
    props = [PROPERTIES[n] for n in dict.fromkeys(names)]
    order = args.kernel_order
    if order and (args.prove or args.engine not in ("explicit", "explicit-python")):
        raise Failure(
            "--kernel-order: only the explicit engine tracks the list order (--engine explicit)"
        )
    cluster = args.scheduler is not None or args.workers is not None
    if cluster and (args.prove or args.engine != "explicit" or order):
        raise Failure(
            "--scheduler/--workers: one search across a cluster is --engine explicit "
            "(without --prove or --kernel-order); many jobs are --sweep"
        )
    if args.split and (cluster or args.prove or args.engine != "explicit" or order):
        raise Failure(
            "--split: the properties searched apart is --engine explicit in one "
            "process (without --prove, --kernel-order or a cluster)"
        )
    name = (
        "induction"
        if args.prove
        else "distributed"
        if cluster
        else "explicit-python"
        if order
        else args.engine
    )
    options = contract.Options(
        symmetry=args.symmetry,
        split=args.split,
        lemmas=args.lemmas,
        max_k=args.max_k,
        kernel_order=order,
        scheduler=args.scheduler,
        workers=args.workers or 0,
        notice=lambda text: err.print(
            f"check-model: {text}", highlight=False, markup=False, soft_wrap=True
        ),
    )
    try:
        engine = contract.build(name, model, props, options)
    except ValueError as e:  # a geometry whose list order cannot be tracked
        raise Failure(f"--kernel-order: {e}") from None

    # Z3 must not answer SIGINT itself (an `unknown` and the run going on):
    # the signal stops the run, and interrupts the solver in this process
    z3.set_param("ctrl_c", False)
    watch.on_stop.append(lambda: z3.main_ctx().interrupt())
    watch.display = Status(err, showing(err, args.progress), f"{spec.name}: preparing the engine")
    try:
        with watch.polling(), watch.display.bar:
            results, stats = engine.run(depth, Shown(watch, err, args.progress, spec.name, depth))
    except (CompilerMissing, SearchError, distributed.SchedulerUnreachable) as e:
        if watch.stopped():  # the signal stopped the compiler: not its failure
            raise Interrupted(watch.signum) from None
        raise Failure(f"--engine explicit: {e}") from None
    if stats.note:
        err.print(stats.note, highlight=False, markup=False)
    covered = None
    if (args.coverage or args.fail_on_unreached) and not watch.stopped():
        try:
            with watch.polling():
                covered = coverage.cover(model, depth, watch).doc(spec.unreached)
        except SearchError as e:
            raise Failure(f"--coverage: {e}") from None
    doc = document(spec, "induction" if args.prove else args.engine, depth, results, stats, model)
    if watch.stopped():
        doc["interrupted"] = True
    if covered is not None:
        doc["coverage"] = covered
    if order:
        doc["list_order"] = "kernel"
    if isinstance(stats, distributed.DistributedStats):
        doc.update(stats.doc())
    if stats.lemmas is not None:
        doc["lemmas"] = list(stats.lemmas)
    if args.emit_log is not None:
        doc["logs"] = [
            str(p) for p in emit_log.emit_counterexamples(args.emit_log, spec.name, model, results)
        ]
        for path in doc["logs"]:
            err.print(f"wrote {path}", highlight=False, markup=False)
    return doc, results, model


class Shown:
    """The run's watch (the signal handlers, the status line) with
    check-model's progress lines on stderr: a line per depth settled, once
    the run is longer than a few seconds, and a distributed search's
    per-worker lines, only where progress is shown."""

    def __init__(self, watch: Interrupt, err: Console, asked: bool, spec: str, depth: int):
        self.watch, self.err = watch, err
        self.enabled = showing(err, asked)
        self.spec, self.depth = spec, depth
        self.start = time.monotonic()
        self.shown = False

    def show(self, text: str, states: int | None = None) -> None:
        self.watch.show(text, states)

    def stopped(self) -> bool:
        return self.watch.stopped()

    def level(self, depth: int, *, states: int | None = None, seconds: float | None = None) -> None:
        if self.enabled and (time.monotonic() - self.start > 3 or self.shown):
            self.shown = True
            what = f"{seconds:.1f}s" if seconds is not None else f"{states} states"
            self.err.print(
                f"[dim]{self.spec}: depth {depth}/{self.depth} done ({what})[/dim]", highlight=False
            )

    def note(self, text: str) -> None:
        if self.enabled:
            self.err.print(text, highlight=False, markup=False)


def document(
    spec: specs.Spec, engine: str, depth: int, results: list[Result], stats: RunStats, model: Model
) -> dict[str, Any]:
    out = []
    for r in results:
        item: dict[str, Any] = {
            "property": r.prop,
            "verdict": r.verdict,
            "depth": r.k if isinstance(r, Proved) else r.depth,
            "counterexample": counterexample.steps(model, r.trace)
            if isinstance(r, Violated)
            else [],
            "seconds": round(r.seconds, 3),
            "expected": (
                "violated" if r.prop in spec.violated else "holds" if r.prop in spec.holds else None
            ),
        }
        if r.engine:
            item["engine"] = r.engine
        if isinstance(r, Holds) and r.exhaustive:
            item["exhaustive"] = True
        if isinstance(r, (Holds, Proved)) and r.vacuous is not None:
            item["vacuous"] = r.vacuous
        if isinstance(r, Unknown) and r.reason:
            item["reason"] = r.reason
        if isinstance(r, Proved):
            item["k"], item["invariants"] = r.k, list(r.lemmas)
        out.append(item)
    return {
        "spec": spec.name,
        "engine": engine,
        "depth": depth,
        "expected_depth": spec.depth,
        "results": out,
        "seconds": round(stats.seconds, 3),
        **({"states": stats.states} if stats.states else {}),  # BMC counts none
        # the compiled search: how many searches (one per history cone), and
        # the states and memory of the largest
        **(
            {
                "searches": stats.searches,
                "largest_search_states": stats.largest,
                "largest_search_bytes": stats.bytes,
            }
            if isinstance(stats, CompiledStats)
            else {}
        ),
    }


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except Failure as e:
        return fail("check-model", e, wants_json(argv))
    if args.sweep or args.mutants:
        return sweep_cli.main(args)
    if args.every_geometry:
        return every_geometry.main(args)
    err = stderr_console(args.progress)
    if args.starvation is not None:
        try:
            if args.scheduler is not None or args.workers is not None:
                raise Failure(
                    "--starvation runs on one machine (docs/distributed.md says why); "
                    "--scheduler/--workers take --engine explicit"
                )
            return starvation.main(args)
        except Failure as e:
            return fail("check-model", e, args.json)
    interrupt = Interrupt()
    try:  # outside `installed`: a signal may come while its handlers go in
        with interrupt.installed():
            return report(args, err, interrupt)
    except Interrupted as e:  # before the engine ran, or while printing
        if args.json:
            print(json.dumps({"interrupted": True}))
        say_interrupted("check-model", e.signum)
        return 128 + e.signum


def report(args: argparse.Namespace, err: Console, interrupt: Interrupt) -> int:
    try:
        doc, results, model = run(args, err, interrupt)
    except Failure as e:
        return fail("check-model", e, args.json)
    except distributed.WorkerLost as e:  # not bad input: the cluster failed (exit 3)
        return fail("check-model", Failure(str(e)), args.json, 3)
    if args.html:
        try:
            html_report.write_model(args.html, doc, results, model)
        except OSError as e:
            return fail("check-model", Failure(f"cannot write: {e.strerror}", args.html), args.json)
    if args.itf and (violated := [r for r in results if isinstance(r, Violated)]):
        try:
            doc["itf"] = [str(p) for p in itf.write(args.itf, doc["spec"], model, violated)]
        except OSError as e:
            return fail(
                "check-model", Failure(f"cannot write: {e.strerror}", e.filename), args.json
            )
        for path in doc["itf"]:
            err.print(f"wrote {path}", highlight=False, markup=False)
    status = verdict_status(args, results, interrupt, doc)
    try:
        if args.json:
            json.dump(doc, sys.stdout, indent=1)
            sys.stdout.write("\n")
        elif args.simulate is None:
            chunk_map = sys.stdout.isatty() if args.map is None else args.map
            human(doc, results, model, stdout_console(width=100, soft_wrap=True), chunk_map, status)
        sys.stdout.flush()
    except BrokenPipeError:
        quiet_closed_stdout()
    if interrupt.stopped():
        say_interrupted("check-model", interrupt.signum)
    elif status == 3:
        unknown = [r.prop for r in results if r.verdict == "unknown"]
        print(
            f"check-model: no verdict for {', '.join(unknown)} (unknown): exit status 3",
            file=sys.stderr,
        )
    return status


def verdict_status(
    args: argparse.Namespace, results: list[Result], interrupt: Interrupt, doc: dict[str, Any]
) -> int:
    """The exit status: 128 + the signal that stopped the run, 1 for a
    violation (or, with --fail-on-vacuity, a vacuous verdict; with
    --fail-on-unreached, an action never taken unexpectedly), 3 for a
    property left unknown, else 0."""
    if interrupt.stopped():
        return interrupt.status
    if any(r.verdict == "violated" for r in results):
        return 1
    if args.fail_on_vacuity and any(isinstance(r, (Holds, Proved)) and r.vacuous for r in results):
        return 1
    if args.fail_on_unreached and doc.get("coverage", {}).get("unexpected_unreached"):
        return 1
    if any(r.verdict == "unknown" for r in results):
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
