"""The counterexample as a compact per-step chunk map in the terminal: one
table row per step, one column per chunk struct, in the characters of
checker/report/counterexample.py ('.' free, 'A'/'a' an area, pages split by '|', then the
page map 'P' populated / '-' not), coloured by the context holding each area
and by population. Fits the console width (100 columns by default)."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from percpu_mc.checker.report.step_view import ChunkView, StepView, counterexample
from percpu_mc.model.machine import Model, Trace

HOLDER_STYLES = ("bold blue", "bold dark_orange", "bold magenta", "bold cyan", "bold green")


def holder_style(owner: int | None) -> str:
    return "dim" if owner is None else HOLDER_STYLES[owner % len(HOLDER_STYLES)]


def chunk_text(ch: ChunkView, cells_per_page: int) -> Text:
    """report.cell_map and report.page_map of one chunk, styled."""
    if not ch.live:
        return Text("-", style="dim")
    style_at: dict[int, str] = {}
    for a in ch.areas:
        # an allocation still inside pcpu_alloc() is underlined
        style = holder_style(a.owner) + (" underline" if a.in_call else "")
        for i in range(a.off, a.off + a.size):
            style_at[i] = style
    out = Text()
    cell = 0
    for char in ch.cells:
        if char == "|":
            out.append("|", style="dim")
            continue
        populated = " on grey23" if ch.pages[cell // cells_per_page] == "P" else ""
        out.append(char, style=(style_at.get(cell, "") + populated).strip())
        cell += 1
    out.append(" " + ch.pages, style="green" if "-" not in ch.pages else "yellow")
    return out


def counter_text(step: StepView, last: bool) -> Text:
    text = f"{step.counter}"
    if step.quiet and step.counter != step.counter_truth:
        return Text(f"{text}!={step.counter_truth}", style="bold red")
    return Text(text, style="bold" if last else "")


def map_table(model: Model, prop: str, trace: Trace) -> Table:
    view = counterexample(model, prop, trace)
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1),
        title=f"{prop}: chunk map per step",
        title_justify="left",
    )
    table.add_column("#", justify="right")
    table.add_column("context: action", overflow="fold", ratio=1)
    for ch in view.steps[0].chunks:
        table.add_column(ch.role.replace("first chunk", "chunk 0"), no_wrap=True)
    table.add_column("nr_empty", justify="right", no_wrap=True)
    table.add_column("mutex", no_wrap=True)
    for step in view.steps:
        last = step is view.steps[-1] and step.number > 0
        who = "initial state" if step.number == 0 else f"{step.context}: {step.action}"
        table.add_row(
            str(step.number),
            Text(who, style="bold red" if last else ""),
            *(chunk_text(ch, view.cells_per_page) for ch in step.chunks),
            counter_text(step, last),
            step.mutex_owner,
        )
    return table


def print_map(console: Console, model: Model, prop: str, trace: Trace) -> None:
    console.print(map_table(model, prop, trace))
