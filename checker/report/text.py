"""check-model's report for a reader: each verdict, a counterexample
printed once however many properties it breaks, action coverage, and the
closing summary with what the exit status means and what to read next."""

from __future__ import annotations

import textwrap
from typing import Any

from rich.console import Console

from percpu_mc.checker.report import counterexample, terminal_map
from percpu_mc.checker.result import Holds, Proved, Result, Unknown, Violated
from percpu_mc.model.machine import Model
from percpu_mc.model.properties import PROPERTIES


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
