"""check-model's command line: its options in groups, the shipped specs
listed, and what each exit status means (--help)."""

from __future__ import annotations

import argparse
import textwrap
import tomllib
from pathlib import Path

from percpu_mc.checker import specs, sweep
from percpu_mc.checker.cli import sweep as sweep_cli
from percpu_mc.checker.cli.common import Parser, add_version, at_least
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
        "(checker/engines/list_order.py); --starvation with --engine explicit or "
        "explicit-python does so by default",
    )
    eng.add_argument(
        "--abstract-order",
        action="store_true",
        help="--starvation: the model's abstraction of the list order (a chunk choice "
        "may name any chunk of the list) instead of the kernel's",
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
    add_emit_log_arguments(
        ap.add_argument_group("counterexamples as logs (check-trace reads them)")
    )
    sweep_cli.add_arguments(ap)
    return ap.parse_args(argv)


def add_emit_log_arguments(ap: argparse.ArgumentParser) -> None:
    """--emit-log, --simulate and --seed: counterexamples (or a random run)
    written as logs by checker/logs/emit_log.py."""
    ap.add_argument(
        "--emit-log",
        metavar="DIR",
        type=Path,
        help="write each counterexample as DIR/<spec>-<property>.trace, an ftrace "
        "`trace` file check-trace can replay (with --simulate: the random run)",
    )
    ap.add_argument(
        "--simulate",
        metavar="STEPS",
        type=at_least(1),
        help="check nothing: take STEPS random steps that violate no property "
        "and write them with --emit-log",
    )
    ap.add_argument("--seed", type=int, default=0, help="random seed of --simulate (default 0)")


def emit_log_usage_error(args: argparse.Namespace) -> str | None:
    """What is wrong with the emit-log options together, if anything."""
    if args.simulate is not None:
        if args.emit_log is None:
            return "--simulate needs --emit-log DIR to write the run to"
    if args.emit_log is not None and args.emit_log.exists() and not args.emit_log.is_dir():
        return f"--emit-log {args.emit_log}: not a directory"
    return None
