"""check-trace: level-1 consistency of ftrace logs of the percpu allocator.

Exit status: 0 every file parsed and nothing found, 1 a violation, 2 a file
unreadable or with lines that fit no format (or a usage error).
"""

import argparse
import json
import sys
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from percpu_mc.checker import specs
from percpu_mc.checker.cli.common import (
    Interrupt,
    Interrupted,
    Parser,
    add_version,
    at_least,
    fail,
    quiet_closed_stdout,
    reading_bar,
    say_interrupted,
    showing,
    stderr_console,
    stdout_console,
    wants_json,
)
from percpu_mc.checker.errors import Failure
from percpu_mc.checker.logs import perfetto as perfetto_export
from percpu_mc.checker.logs.findings import KINDS, Report, excerpt
from percpu_mc.checker.logs.level2 import Conformance, Level2
from percpu_mc.checker.logs.perfetto import PerfettoTrace
from percpu_mc.checker.logs.trace_check import DEFAULT_WINDOW_NS, TraceChecker
from percpu_mc.checker.logs.trace_summary import LogSummary
from percpu_mc.checker.report import html as html_report
from percpu_mc.checker.report.trace_view import file_view
from percpu_mc.traces.events import Format, Record
from percpu_mc.traces.input import BinaryCapture, open_log, truncated
from percpu_mc.traces.parser import LogParser

# Widths of the lines echoed: a bad line is shown to find it (a binary file's
# "line" may be megabytes), an event line whole, as kernels print them.
BAD_LINE_WIDTH = 120
EVENT_LINE_WIDTH = 400
# Findings printed a file; --json lists those kept (KEPT_PER_KIND a kind).
SHOWN_VIOLATIONS = 50


@dataclass
class FileResult:
    path: str
    format: Format | None  # None: the file could not be read
    report: Report
    error: str | None = None  # why the file could not be read (to its end)
    conformance: Conformance | None = None  # --spec: level 2

    @property
    def features(self) -> list[str]:
        """The kernel features the log shows, then the level-2 notes."""
        return self.report.features + (self.conformance.lines() if self.conformance else [])

    @property
    def unparseable(self) -> bool:
        return self.error is not None or bool(self.report.parse_errors)

    def failure(self) -> Failure | None:
        """The first thing wrong with the file as input, where it is."""
        if self.error is not None:
            return Failure(self.error, self.path)
        if self.report.parse_errors:
            first = self.report.parse_errors[0]
            count = self.report.parse_error_count
            return Failure(
                f"does not parse: {first.message}"
                + (f" ({count} lines in all)" if count > 1 else ""),
                self.path,
                first.line,
            )
        return None


def check_file(
    path: str,
    strict: bool,
    window_ns: int,
    summary: LogSummary | None = None,
    spec: str | None = None,
    unit_size: int | None = None,
    partial: bool | None = None,
    bar: Progress | None = None,
    perfetto: PerfettoTrace | None = None,
) -> FileResult:
    checker = TraceChecker(strict, window_ns, partial)
    parser = LogParser()
    level2 = Level2(spec, strict, unit_size, path, read_records) if spec is not None else None
    conformance = None
    try:
        with open_log(path, reader(bar, path)) as lines:
            for record in parser.records(counted(lines, bar)):
                checker.feed(record)
                if summary is not None:
                    summary.feed(record)
                if level2 is not None:
                    level2.feed(record)
                if perfetto is not None:
                    perfetto.feed(record)
            if truncated(lines):
                checker.report.warnings.append(
                    "the gzip stream is truncated (no end-of-stream marker): "
                    f"the {checker.report.lines} lines it holds are checked"
                )
        report = checker.finish()
        if level2 is not None and not report.parse_errors:
            conformance = level2.finish(report.partial)
            report.violations += conformance.findings
    except BinaryCapture as error:  # says what the file is and the command that reads it
        return FileResult(path, None, checker.finish(), str(error))
    except (OSError, EOFError, zlib.error) as error:
        why = error.strerror if isinstance(error, OSError) and error.strerror else error
        return FileResult(path, None, checker.finish(), f"cannot read: {why}")
    return FileResult(path, parser.format, report, conformance=conformance)


def reader(bar: Progress | None, path: str) -> IO[bytes] | None:
    """The file read through the progress bar (bytes of its size), when drawn."""
    if bar is None or bar.disable or path == "-":
        return None
    name = Path(path).name
    task = bar.add_task(name, total=None, lines=0)
    return bar.open(path, "rb", task_id=task, description=name)  # type: ignore[return-value]


def counted(lines: Iterable[str], bar: Progress | None) -> Iterable[str]:
    """The lines, their count shown on the bar now and then (without a bar,
    the lines themselves: no generator between the file and the parser)."""
    if bar is None or bar.disable or not bar.tasks:
        return lines
    return counting(lines, bar)


def counting(lines: Iterable[str], bar: Progress) -> Iterator[str]:
    task = bar.tasks[-1].id
    n = 0
    for n, line in enumerate(lines, 1):
        if n % 4096 == 0:
            bar.update(task, lines=n)
        yield line
    bar.update(task, lines=n)


def read_records(path: str) -> Iterator[Record]:
    with open_log(path) as lines:
        yield from LogParser().records(lines)


def verdict(results: Sequence[FileResult]) -> str:
    if any(result.unparseable for result in results):
        return "unparseable"
    if any(result.report.no_percpu_event for result in results):
        return "no-percpu-event"
    if any(result.report.violations for result in results):
        return "violations"
    return "clean"


EXIT_STATUS = {"clean": 0, "violations": 1, "unparseable": 2, "no-percpu-event": 2}


def to_json(results: Sequence[FileResult]) -> dict:
    def one(result: FileResult) -> dict:
        report = result.report
        errors = [{"line": e.line, "message": e.message} for e in report.parse_errors]
        if result.error is not None:
            errors.append({"line": report.lines, "message": result.error})
        return {
            "path": result.path,
            "format": result.format.value if result.format else "unknown",
            "lines": report.lines,
            "events": dict(report.events),
            "skipped": report.skipped,
            "features": result.features,
            "violations": [
                {"line": v.line, "kind": v.kind, "message": v.message} for v in report.violations
            ],
            **(
                {"violations_left_out": dict(report.left_out.most_common())}
                if report.left_out
                else {}
            ),
            "parse_errors": errors,
            "parse_error_count": report.parse_error_count + (result.error is not None),
            **(
                {"no_percpu_event": report.no_percpu_event}
                if report.no_percpu_event and not result.unparseable
                else {}
            ),
            **({"partial": report.partial.as_json()} if report.partial else {}),
            **(
                {"not_decided": result.conformance.not_decided}
                if result.conformance and result.conformance.not_decided is not None
                else {}
            ),
            **({"warnings": report.warnings} if report.warnings else {}),
            **(
                {
                    "notes": [
                        {"line": n.line, "kind": n.kind, "message": n.message} for n in report.notes
                    ]
                }
                if report.notes
                else {}
            ),
        }

    doc = {"verdict": verdict(results), "files": [one(result) for result in results]}
    if failure := next(filter(None, (result.failure() for result in results)), None):
        doc |= failure.doc()
    return doc


def print_human(results: Sequence[FileResult], console: Console) -> None:
    for result in results:
        report = result.report
        console.print(
            f"[bold]{escape(result.path)}[/bold]: "
            f"{result.format.value if result.format else 'unreadable'}, "
            f"{report.lines} lines"
        )
        if report.features:
            console.print(f"  kernel features: {escape(', '.join(report.features))}")
        for warning in report.warnings:
            console.print(f"  [yellow]warning[/yellow]: {escape(warning)}")
        for note in result.conformance.lines() if result.conformance else []:
            console.print(f"  {escape(note)}")
        for name, count in sorted(report.events.items()):
            console.print(f"  {count:>9}  {escape(name)}")
        if report.skipped:
            console.print(f"  ({report.skipped} events of other kinds skipped)")
        for error in report.parse_errors:
            console.print(
                f"  [red]line {error.line}[/red]: does not parse: "
                f"{escape(error.message)}\n    "
                f"{escape(excerpt(error.text, BAD_LINE_WIDTH))}"
            )
        if (more := report.parse_error_count - len(report.parse_errors)) > 0:
            console.print(f"  [red]... and {more} more lines that do not parse[/red]")
        if report.no_percpu_event and not result.unparseable:
            console.print(f"  [red]no percpu event[/red]: {escape(report.no_percpu_event)}")
        for violation in report.violations[:SHOWN_VIOLATIONS]:
            console.print(
                f"  [red]line {violation.line}[/red]: {violation.kind}: "
                f"{escape(violation.message)}\n    "
                f"{escape(excerpt(violation.text.strip(), EVENT_LINE_WIDTH))}"
            )
        more = Counter(v.kind for v in report.violations[SHOWN_VIOLATIONS:]) + report.left_out
        if more:
            kinds = ", ".join(f"{n} {kind}" for kind, n in more.most_common())
            console.print(f"  [red]... and {more.total()} more violations ({kinds})[/red]")
        for note in report.notes:
            console.print(
                f"  [yellow]line {note.line}[/yellow]: note: {note.kind}?: "
                f"{escape(note.message)}\n    "
                f"{escape(excerpt(note.text.strip(), EVENT_LINE_WIDTH))}"
            )
        if not (report.violations or result.unparseable or report.no_percpu_event):
            console.print("  [green]consistent[/green]")
    console.print(f"verdict: {verdict(results)}")


def main(argv: Sequence[str] | None = None) -> int:
    kinds = "\n".join(f"  {kind:<24} {meaning}" for kind, meaning in KINDS.items())
    arguments = Parser(
        prog="check-trace",
        description="Check ftrace logs of the Linux percpu allocator for consistency "
        "(trace, trace_pipe, trace-cmd report or perf script text; plain or gzip).",
        epilog=f"findings:\n{kinds}\n\nexit status: 0 clean, 1 violations, 2 unreadable "
        "or unparseable input, no percpu event, or a usage error",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_version(arguments)
    arguments.add_argument(
        "files", nargs="+", metavar="FILE", help="a log file, or - for standard input"
    )
    arguments.add_argument(
        "--strict",
        action="store_true",
        help="the logs are complete from boot: unknown areas and chunks are errors",
    )
    arguments.add_argument(
        "--partial",
        action=argparse.BooleanOptionalAction,
        help="the logs hold only some CPUs' events (per_cpu/cpuN/trace, or "
        "cut by CPU): what the others did is unknown, not a violation; "
        "default: told from the header and the CPUs seen "
        "(docs/partial-captures.md)",
    )
    arguments.add_argument(
        "--json", action="store_true", help="print one JSON document on standard output"
    )
    arguments.add_argument(
        "--progress",
        action="store_true",
        help="progress on stderr: bytes and lines read of each file "
        "(default: when stderr is a terminal)",
    )
    arguments.add_argument(
        "--window-us",
        type=at_least(0),
        default=DEFAULT_WINDOW_NS // 1000,
        metavar="USEC",
        help="tolerate cross-CPU clock skew up to this many microseconds (default %(default)s)",
    )
    arguments.add_argument(
        "--html",
        metavar="FILE",
        help="also write a self-contained HTML page: timeline and chunk map",
    )
    arguments.add_argument(
        "--perfetto",
        metavar="FILE",
        help="also write the logs in the Trace Event Format (JSON), for the Perfetto "
        "UI or chrome://tracing: tracks per CPU and per task, live bytes per chunk, "
        "each finding at its line (docs/check-trace.md)",
    )
    arguments.add_argument(
        "--spec",
        metavar="NAME|PATH",
        help="also check level-2 conformance: could this spec's model have "
        "printed the log? (findings: nonconforming, or a property name)",
    )
    arguments.add_argument(
        "--unit-size",
        type=at_least(1),
        metavar="BYTES",
        help="with --spec on a real-scale log: the unit size (pcpu_unit_size)",
    )
    try:
        options = arguments.parse_args(argv)
    except Failure as failure:
        return fail("check-trace", failure, wants_json(argv))
    try:  # outside `installed`: a signal may come while its handlers go in
        with Interrupt().installed():
            return check(arguments, options)
    except Failure as failure:
        return fail("check-trace", failure, options.json)
    except Interrupted as stop:
        if options.json:
            print(json.dumps({"interrupted": True}))
        say_interrupted("check-trace", stop.signum)
        return 128 + stop.signum


def check(arguments: argparse.ArgumentParser, options: argparse.Namespace) -> int:
    for page in (options.html, options.perfetto):
        if page and (why := html_report.unwritable(page)):
            raise Failure(why)
    if options.spec is not None:
        specs.load(options.spec)
        if "-" in options.files:
            arguments.error(
                "--spec may read a log a second time (a log at the model's scale, or one "
                "whose inferred unit size changes): give files, not standard input"
            )
    summaries = [LogSummary() if options.html else None for _ in options.files]
    exports = [
        PerfettoTrace(path, i) if options.perfetto else None for i, path in enumerate(options.files)
    ]
    err = stderr_console(options.progress)
    with reading_bar(err, showing(err, options.progress)) as bar:
        results = [
            check_file(
                path,
                options.strict,
                options.window_us * 1000,
                summary,
                options.spec,
                options.unit_size,
                options.partial,
                bar,
                export,
            )
            for path, summary, export in zip(options.files, summaries, exports)
        ]
    if options.perfetto:
        try:
            with open(options.perfetto, "w") as out:
                perfetto_export.write(
                    out, [(e, r.report) for e, r in zip(exports, results) if e is not None]
                )
        except OSError as error:
            raise Failure(f"cannot write: {error.strerror}", options.perfetto) from None
    if options.html:
        try:
            html_report.write_trace(
                options.html,
                verdict(results),
                [
                    file_view(
                        r.path,
                        r.format.value if r.format else "unreadable",
                        r.report,
                        s,
                        verdict([r]),
                        r.error,
                        r.features,
                    )
                    for r, s in zip(results, summaries)
                ],
            )
        except OSError as error:
            raise Failure(f"cannot write: {error.strerror}", options.html) from None
    for result in results:  # what is wrong with the input, on stderr whatever stdout holds
        if (failure := result.failure()) is not None:
            print(f"check-trace: {failure}", file=sys.stderr)
    try:
        if options.json:
            json.dump(to_json(results), sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            print_human(results, stdout_console(highlight=False, soft_wrap=True))
        sys.stdout.flush()
    except BrokenPipeError:
        quiet_closed_stdout()
    return EXIT_STATUS[verdict(results)]


if __name__ == "__main__":
    sys.exit(main())
