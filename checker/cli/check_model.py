"""check-model: check a spec's properties with BMC or explicit-state search."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time
import tomllib
from dataclasses import replace
from typing import Any

import z3
from rich.console import Console

from percpu_mc.checker import specs, sweep
from percpu_mc.checker.cli import starvation
from percpu_mc.checker.cli import sweep as sweep_cli
from percpu_mc.checker.cli.common import (
    Interrupt,
    Interrupted,
    Parser,
    Status,
    add_version,
    at_least,
    fail,
    quiet_closed_stdout,
    say_interrupted,
    showing,
    stderr_console,
    stdout_console,
    wants_json,
)
from percpu_mc.checker.engines import contract, coverage, distributed
from percpu_mc.checker.engines.build import CompilerMissing
from percpu_mc.checker.engines.compiled import CompiledStats, SearchError
from percpu_mc.checker.errors import Failure
from percpu_mc.checker.logs import emit_log
from percpu_mc.checker.parametric import report as every_geometry
from percpu_mc.checker.report import counterexample, itf, terminal_map
from percpu_mc.checker.report import html as html_report
from percpu_mc.checker.result import Holds, Proved, Result, RunStats, Unknown, Violated
from percpu_mc.model.machine import Model
from percpu_mc.model.properties import PROPERTIES

EXIT_STATUS = """\
exit status:
  0    no property violated up to the depth (or proved); none left unknown
  1    a violation found (or, with --fail-on-vacuity, a vacuous verdict)
  2    bad input or usage: unknown spec or property, malformed TOML, a bad option value
  3    no violation, but a property left unknown (named on stderr)
  130  stopped by Ctrl-C (SIGINT), 143 by SIGTERM: the verdicts settled so far are printed
"""


def spec_list() -> str:
    """The shipped specs with their descriptions, kernel variants first and
    the injected bugs (mutants) after, for --help."""
    variants: list[str] = []
    mutants: list[str] = []
    names = specs.available()
    width = max(map(len, names)) + 4
    for name in names:
        try:
            text = str(tomllib.loads((specs.SPEC_DIR / f"{name}.toml").read_text())["description"])
        except (OSError, tomllib.TOMLDecodeError, KeyError):
            text = ""
        rows = textwrap.wrap(
            f"{name:<{width - 2}}{text}",
            100,
            initial_indent="  ",
            subsequent_indent=" " * width,
            break_on_hyphens=False,
        )
        (mutants if name.startswith(sweep.MUTANT_PREFIX) else variants).extend(rows)
    return "\n".join(
        [
            "specs (--spec NAME; docs/model.md says what each is):",
            *variants,
            "",
            f"injected bugs ({sweep.MUTANT_PREFIX}*, each one changed behaviour; --mutants "
            "scores them):",
            *mutants,
        ]
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = Parser(
        prog="check-model",
        description="Check the percpu allocator model of a kernel variant (a spec) for "
        "violations of its properties, up to a depth.",
        epilog=f"{spec_list()}\n\n{EXIT_STATUS}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_version(ap)
    what = ap.add_argument_group("what to check")
    what.add_argument(
        "--spec",
        default="seed",
        metavar="NAME|FILE",
        help="a spec's name (listed below) or a .toml file of the same shape (default: seed)",
    )
    what.add_argument(
        "--depth",
        type=at_least(1),
        default=None,
        help="maximum number of steps (default: the spec's expect.depth)",
    )
    what.add_argument(
        "--property",
        action="append",
        dest="properties",
        metavar="NAME",
        help=f"check only this property (repeatable): {', '.join(PROPERTIES)} (default: all)",
    )
    eng = ap.add_argument_group("engine")
    eng.add_argument(
        "--engine",
        choices=("portfolio", "bmc", "explicit", "explicit-python"),
        default="portfolio",
        help="portfolio (default): the compiled explicit search and BMC side by side, "
        "each property's strongest verdict; bmc: bounded model checking on Z3; "
        "explicit: breadth-first search compiled to native code (needs a C compiler); "
        "explicit-python: the same search on the pure-Python interpretation "
        "(the reference)",
    )
    eng.add_argument(
        "--symmetry",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="explicit: store one state per class of states equal up to a "
        "permutation of the contexts and of the dynamic chunk structs, dead "
        "locals forgotten, and only the history variables the checked "
        "properties read (sound: same verdicts and shortest lengths; "
        "default: on)",
    )
    eng.add_argument(
        "--split",
        action="store_true",
        help="explicit: search the properties that read different history "
        "variables apart, each search keeping only its own: the memory of "
        "the largest search, the time of them all (default: one search)",
    )
    eng.add_argument(
        "--lemmas",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="bmc: once the next depth looks costlier than the proof, prove the "
        "lemmas of model/invariants.py by induction and assert the proved ones "
        "on every step (checker/engines/strengthen.py; cannot change a verdict or a "
        "counterexample's length; default: on)",
    )
    eng.add_argument(
        "--kernel-order",
        action="store_true",
        help="--engine explicit (also with --starvation): track the order of the "
        "kernel's chunk lists and explore only the chunk choices it makes "
        "(checker/engines/list_order.py)",
    )
    proofs = ap.add_argument_group("proofs and starvation (docs/proofs-and-lassos.md)")
    proofs.add_argument(
        "--prove",
        action="store_true",
        help="prove the properties for every run by k-induction "
        "(checker/engines/induction.py); what it cannot prove is then searched by BMC "
        "up to --depth",
    )
    proofs.add_argument(
        "--every-geometry",
        action="store_true",
        help="prove no-use-after-free for every geometry (checker/parametric/) and check "
        "the proof's relation against the spec's finite model",
    )
    proofs.add_argument(
        "--max-k",
        type=at_least(1),
        default=2,
        metavar="K",
        help="--prove: the largest k of the induction (default: 2)",
    )
    proofs.add_argument(
        "--starvation",
        type=at_least(1),
        metavar="SIZE",
        help="search a starvation lasso for atomic requests of SIZE cells instead "
        "(checker/engines/lasso.py): bmc up to --depth steps, or explicit: every state",
    )
    proofs.add_argument(
        "--limit",
        type=at_least(1),
        default=2_000_000,
        help="--starvation --engine explicit: give up past this many states",
    )
    out = ap.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="one JSON document on stdout")
    out.add_argument(
        "--html",
        metavar="FILE",
        help="also write the counterexamples as one self-contained HTML page",
    )
    out.add_argument(
        "--itf",
        metavar="FILE",
        help="also write each counterexample in the Informal Trace Format (Apalache "
        "ADR-015 JSON); several: one file each, the property's name before "
        "the suffix (FILE cex.itf.json: cex.<property>.itf.json)",
    )
    out.add_argument(
        "--map",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw each counterexample as a per-step chunk map "
        "(default: when stdout is a terminal)",
    )
    out.add_argument(
        "--progress",
        action="store_true",
        help="progress on stderr, redrawn in place: BMC's depth, the property being "
        "solved and the time in it; a search's states, rate and memory (with "
        "--scheduler/--workers: each worker's after each level) (default: when "
        "stderr is a terminal)",
    )
    out.add_argument(
        "--coverage",
        action="store_true",
        help="also search the spec to --depth for action coverage: per action (and per "
        "code path of one, such as its failure path) the states that enable it and "
        "the steps taken; the actions never taken are named (checker/engines/coverage.py)",
    )
    out.add_argument(
        "--fail-on-unreached",
        action="store_true",
        help="with coverage (implies --coverage): exit with status 1 when an action "
        "is never taken that the spec's expect.unreached does not list",
    )
    out.add_argument(
        "--fail-on-vacuity",
        action="store_true",
        help="exit with status 1 when a property holds only because its premise "
        "never arose within the run",
    )
    emit_log.add_arguments(
        ap.add_argument_group("counterexamples as logs (check-trace reads them)")
    )
    sweep_cli.add_arguments(ap)
    return ap.parse_args(argv)


def own_name(spec: specs.Spec, err: Console) -> specs.Spec:
    """A spec read from a file outside the shipped ones runs under its file's
    name; an edited copy of a shipped spec that kept its [expect] is not
    held to those expectations (they were written for the original)."""
    if spec.path.resolve().parent == specs.SPEC_DIR.resolve():
        return spec
    own = replace(spec, name=spec.path.stem)
    if spec.name not in specs.available():
        return own
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
    if (bad := emit_log.usage_error(args)) is not None:
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


def human(
    doc: dict[str, Any],
    results: list[Result],
    model: Model,
    out: Console,
    chunk_map: bool = False,
    status: int = 0,
) -> None:
    runs: dict[str, tuple[tuple[int, tuple[tuple[str, int], ...]], ...]] = {}
    out.print(
        f"spec {doc['spec']}, engine {doc['engine']}, depth {doc['depth']} ({doc['seconds']:.1f}s)",
        highlight=False,
    )
    if doc.get("lemmas") is not None:
        for ln in textwrap.wrap(
            "every step constrained by the lemmas proved invariant: "
            + (", ".join(doc["lemmas"]) or "none"),
            96,
            subsequent_indent="    ",
            break_on_hyphens=False,
        ):
            out.print(ln, highlight=False, markup=False)
    for item, r in zip(doc["results"], results):
        match r:
            case Violated():
                line = f"violated at depth {r.depth}"
            case Holds(exhaustive=True):
                line = "holds (every reachable state checked)"
            case Holds():
                line = f"holds up to depth {r.depth}"
            case Proved():
                line = f"proved (k = {r.k})"
            case Unknown(reason="interrupted") if r.depth < 0:
                line = "interrupted before the first depth was checked"
            case Unknown(reason="interrupted"):
                line = f"interrupted: no violation up to depth {r.depth}"
            case Unknown():
                line = f"unknown at depth {r.depth}: {r.reason}"
        if isinstance(r, Holds) and r.vacuous:
            line += f" (vacuously: {PROPERTIES[r.prop].premise_text})"
        if isinstance(r, Proved) and r.vacuous:
            line += (
                f" (vacuously: {PROPERTIES[r.prop].premise_text} within the base case's "
                f"{r.base_depth} steps)"
            )
        if r.engine:
            line += f" \\[{r.engine}]"
        exp = None if isinstance(r, Unknown) else item["expected"]
        exp = "proved" if exp == "holds" and r.verdict == "proved" else exp
        mark = (
            "" if exp is None else "  (as expected)" if exp == r.verdict else f"  (expected: {exp}"
        )
        if exp is not None and exp != r.verdict:
            mark += f" within {doc['expected_depth']} steps)" if exp == "violated" else ")"
        out.print(f"{r.prop:<20} {line}{mark}", highlight=False)
        if isinstance(r, Proved) and r.lemmas:
            for ln in textwrap.wrap(
                "with the lemmas " + ", ".join(r.lemmas),
                96,
                initial_indent="    ",
                subsequent_indent="      ",
            ):
                out.print(ln, highlight=False, markup=False)
        if isinstance(r, Violated):
            run = run_key(r)
            promise = PROPERTIES[r.prop].promise
            shown = next((p for p, k in runs.items() if k[: len(run)] == run), None)
            if shown is None:
                runs[r.prop] = run
                for ln in counterexample.render_steps(model, r.trace):
                    out.print(ln, highlight=False, markup=False)
                why = f"the state after step {r.depth} breaks {r.prop}: {promise}"
            elif len(runs[shown]) == len(run):
                why = (
                    f"{r.prop}: the same run as {shown} (above), violated at step "
                    f"{r.depth}: {promise}"
                )
            else:
                why = (
                    f"{r.prop}: the first {r.depth} steps of the run shown for {shown} "
                    f"(above), violated at step {r.depth}: {promise}"
                )
            for ln in textwrap.wrap(why, 96, initial_indent="    ", subsequent_indent="      "):
                out.print(ln, highlight=False, markup=False)
            if chunk_map and shown is None:
                terminal_map.print_map(out, model, r.prop, r.trace)
    if "coverage" in doc:
        for ln in coverage_lines(doc["coverage"]):
            out.print(ln, highlight=False, markup=False)
    for ln in summary(doc, results, status):
        out.print(ln, highlight=False, markup=False)


def run_key(r: Violated) -> tuple[tuple[int, tuple[tuple[str, int], ...]], ...]:
    """A counterexample's steps as data: two properties broken by one run
    have equal keys (every engine starts from the one initial state)."""
    return tuple((st.action, tuple(sorted(st.choices.items()))) for st in r.trace.steps)


def summary(doc: dict[str, Any], results: list[Result], status: int) -> list[str]:
    """The closing lines: what broke, what held, what the exit status means
    and what to read next."""
    broke = [r.prop for r in results if isinstance(r, Violated)]
    held = [r for r in results if isinstance(r, (Holds, Proved))]
    unknown = [r.prop for r in results if isinstance(r, Unknown)]
    parts = [f"{len(broke)} violated" + (f" ({', '.join(broke)})" if broke else "")]
    proved = sum(isinstance(r, Proved) or (isinstance(r, Holds) and r.exhaustive) for r in held)
    if held:
        parts.append(
            f"{len(held)} held"
            + (f" ({proved} in every reachable state)" if proved else "")
            + (f", up to depth {doc['depth']}" if proved < len(held) else "")
        )
    parts.append(f"{len(unknown)} unknown" + (f" ({', '.join(unknown)})" if unknown else ""))
    noun = "property" if len(results) == 1 else "properties"
    lines = [f"summary: {len(results)} {noun} of spec {doc['spec']}: " + "; ".join(parts)]
    expected = all(i["expected"] in (None, r.verdict) for i, r in zip(doc["results"], results))
    meaning = {
        0: "no property violated",
        1: "a violation found" if broke else "a property held only vacuously (--fail-on-vacuity)",
        3: "no violation, but a property left unknown",
        130: "interrupted by Ctrl-C; the verdicts above are those settled before it",
        143: "interrupted by SIGTERM; the verdicts above are those settled before it",
    }
    if status in meaning:
        lines.append(
            f"exit status {status}: {meaning[status]}"
            + (
                "; every verdict as the spec expects"
                if expected and any(i["expected"] for i in doc["results"])
                else ""
            )
        )
    if broke:
        lines.append(
            "next: --html FILE draws each run as a page (a lane per context), --emit-log DIR "
            "writes it as an ftrace log check-trace replays; docs/findings.md explains the "
            "known bugs step by step"
        )
    elif unknown:
        lines.append("next: --engine explicit searches every state up to the depth")
    elif proved < len(held):
        lines.append(
            "next: --prove tries a proof for runs of every length (docs/proofs-and-lassos.md)"
        )
    return [
        ln
        for text in lines
        for ln in textwrap.wrap(text, 96, subsequent_indent="    ", break_on_hyphens=False)
    ]


def coverage_lines(cov: dict[str, Any]) -> list[str]:
    """--coverage for a reader: a line per action (and path), then the
    actions never taken."""
    scope = "every reachable state" if cov["exhaustive"] else f"depth {cov['depth']}"
    lines = [f"coverage ({scope}, {cov['states']} states expanded): enabled in / taken"]
    for a in cov["actions"]:
        lines.append(f"  {a['action']:<34} {a['enabled']:>9} {a['taken']:>9}  {a['name']}")
        for p in a.get("paths", []):
            lines.append(f"    {p['path']:<32} {p['enabled']:>9} {p['taken']:>9}")
    for u in cov["unreached"]:
        why = f" (expected: {u['why']})" if "why" in u else " (not in the spec's expect.unreached)"
        lines.append(f"never taken: {u['action']}{why}")
    return lines


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
    with interrupt.installed():
        try:
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
