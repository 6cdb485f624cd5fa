"""`--html FILE`: one self-contained page (inline CSS and SVG, no script, no
external asset) drawn with Jinja2 templates from checker/report/templates/."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import jinja2

from percpu_mc.checker.report.step_view import AreaView, counterexample
from percpu_mc.checker.report.trace_view import PAGE_SIZE, TIMELINE_WIDTH, FileView
from percpu_mc.checker.result import Result, Violated
from percpu_mc.model.machine import Model
from percpu_mc.model.vocabulary import alloc_context

# One colour per holder of an area; allocations still inside pcpu_alloc()
# share their context's colour.
HOLDER_COLOURS = ("#2f6fb0", "#d9822b", "#7d4fb0", "#2a9d8f", "#b04f7d")
STATIC_COLOUR = "#777777"


def holder_colour(owner: int | None) -> str:
    """The colour of the areas an allocating context holds (None: no context)."""
    return STATIC_COLOUR if owner is None else HOLDER_COLOURS[owner % len(HOLDER_COLOURS)]


def short_holder(area: AreaView) -> str:
    """The label drawn inside an area box (two cells wide at least fit it)."""
    if area.owner is not None:
        return f"#{area.owner + 1}"
    return "S" if area.holder == "static" else area.holder


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("percpu_mc.checker.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals.update(colour=holder_colour, short=short_holder)
    return env


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `path` through a temporary file in the same directory
    and a rename: a reader never sees a half-written page."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is for reading
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def unwritable(path: str) -> str | None:
    """Why a page cannot be written at `path` (checked before a long run)."""
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        return f"cannot write {path}: no directory {parent}"
    if not os.access(parent, os.W_OK):
        return f"cannot write {path}: {parent} is not writable"
    if Path(path).is_dir():
        return f"cannot write {path}: it is a directory"
    return None


def model_page(doc: dict[str, Any], results: list[Result], model: Model) -> str:
    views = [
        counterexample(model, r.prop, r.trace, doc["spec"])
        for r in results
        if isinstance(r, Violated)
    ]
    legend = [
        (f"area held by {alloc_context(i)}", holder_colour(i)) for i in range(model.p.nr_contexts)
    ] + [("the first chunk's static area (S)", STATIC_COLOUR)]
    return environment().get_template("model.html.j2").render(doc=doc, views=views, legend=legend)


def write_model(path: str, doc: dict[str, Any], results: list[Result], model: Model) -> None:
    write_atomic(path, model_page(doc, results, model))


def trace_page(verdict: str, files: list[FileView]) -> str:
    return (
        environment()
        .get_template("trace.html.j2")
        .render(verdict=verdict, files=files, timeline_width=TIMELINE_WIDTH, page_size=PAGE_SIZE)
    )


def write_trace(path: str, verdict: str, files: list[FileView]) -> None:
    write_atomic(path, trace_page(verdict, files))
