"""Streaming reader of ftrace logs: text in, typed records (traces.events) out.

The grammar, traces/ftrace.lark, defines every accepted line; Lark compiles
it (LALR, contextual lexer) with the transformer of traces/to_records.py
applied during parsing, so no tree is built and memory stays bounded by one
line however long the log is. A line is read by the scanner of traces/scanner.py, which
is Lark's contextual lexer compiled from the grammar's own terminals into
one match per token, and whose tokens go to the same transformer; a line the
scanner does not match whole is parsed by Lark's parser, which names what a
bad line lacks.
"""

from collections.abc import Iterable, Iterator
from importlib import resources

from lark import Lark, Token, UnexpectedInput

from percpu_mc.traces.common_line import COMMON_LINE, common_record
from percpu_mc.traces.decoders import EVENT_DECODERS
from percpu_mc.traces.events import CutLine, Format, ParseError, Record
from percpu_mc.traces.scanner import LineScanner
from percpu_mc.traces.to_records import ToRecords

# What each terminal stands for, to tell a reader what a bad line lacks.
EXPECTED = {
    "FTRACE_HEAD": "an event line 'TASK-PID [CPU] FLAGS TIMESTAMP: event: fields'",
    "PERF_HEAD": "a perf script line 'comm pid [cpu] time: system:event: fields'",
    "LOST_EVENTS": "'CPU:N [LOST M EVENTS]'",
    "TRACER_LINE": "'# tracer: NAME'",
    "ENTRIES_LINE": "'# entries-in-buffer/entries-written: A/B   #P:N'",
    "COLUMNS_LINE": "the column legend '#  TASK-PID  CPU#  ||||  TIMESTAMP  FUNCTION'",
    "COMMENT_LINE": "a '#' header line",
    "VERSION_LINE": "'version = N'",
    "CPUS_LINE": "'cpus=N'",
    "CPU_EMPTY_LINE": "'CPU N is empty'",
    "BLANK_LINE": "an empty line",
    "ALLOC_V519": "percpu_alloc_percpu with the v5.19+ fields 'call_site= reserved= is_atomic= "
    "size= align= base_addr= off= ptr= bytes_alloc= gfp_flags='",
    "ALLOC_V413": "percpu_alloc_percpu with the v4.13 fields 'reserved= is_atomic= size= align= "
    "base_addr= off= ptr='",
    "ALLOC_FAIL": "percpu_alloc_percpu_fail 'reserved= is_atomic= size= align='",
    "FREE": "percpu_free_percpu 'base_addr= off= ptr='",
    "CREATE_CHUNK": "percpu_create_chunk 'base_addr='",
    "DESTROY_CHUNK": "percpu_destroy_chunk 'base_addr='",
    "FUNCTION": "a function-tracer call 'func <-parent'",
    "PROBE": "a probe hit 'name: (site) arg=value ...'",
    "OTHER_EVENT": "another event 'name: fields'",
}

# Terminals that may follow the prefix, by the event name a bad line starts
# with: a malformed percpu line is reported against its own formats only.
PERCPU_TERMINALS = {
    "percpu_alloc_percpu:": ("ALLOC_V519", "ALLOC_V413"),
    "percpu_alloc_percpu_fail:": ("ALLOC_FAIL",),
    "percpu_free_percpu:": ("FREE",),
    "percpu_create_chunk:": ("CREATE_CHUNK",),
    "percpu_destroy_chunk:": ("DESTROY_CHUNK",),
}


def _grammar() -> str:
    return resources.files("percpu_mc.traces").joinpath("ftrace.lark").read_text()


def _describe(error: UnexpectedInput, text: str) -> str:
    """What the line lacks, in the grammar's own terms."""
    column = getattr(error, "column", len(text) + 1)
    expected = getattr(error, "allowed", None) or getattr(error, "expected", None) or set()
    rest = text[column - 1 :].lstrip()
    rest = rest.partition(":")[2].lstrip() if rest.startswith("percpu:") else rest
    for name, terminals in PERCPU_TERMINALS.items():
        if rest.startswith(name) and rest[len(name) : len(name) + 1] in ("", " "):
            expected = set(terminals)
            break
    if "FTRACE_HEAD" in expected:  # at the start of a line: say it briefly
        expected = {"FTRACE_HEAD", "PERF_HEAD", "LOST_EVENTS", "COMMENT_LINE"}
    wanted = sorted({EXPECTED[name] for name in expected if name in EXPECTED})
    if not wanted:
        return f"column {column}: unexpected text"
    return f"column {column}: expected " + ", or ".join(wanted)


class LogParser:
    """Parses one log; `format` tells, after reading, which program wrote it.
    With `scanner=False` every line goes through Lark's parser: slow, the
    reference the scanner is tested against."""

    def __init__(self, scanner: bool = True) -> None:
        self._use_scanner = scanner
        self._records = ToRecords()
        self._lark = Lark(
            _grammar(), parser="lalr", lexer="contextual", transformer=self._records, cache=True
        )
        self._scanner = LineScanner(self._lark)
        self._one_token = {
            terminal: getattr(self._records, rule) for terminal, rule in self._scanner.rule.items()
        }
        if self._scanner.pair_rule != "event_line":
            raise ValueError("the grammar's two-token lines are not event lines")

    @property
    def format(self) -> Format:
        return self._records.format or Format.TRACE_PIPE

    def records(self, lines: Iterable[str]) -> Iterator[Record]:
        """Every record of `lines`, in order; bad lines become ParseError
        records. Every program that writes these logs ends each line with a
        newline: a last line without one is cut (a copy stopped inside it, a
        truncated gzip), and its fields may be cut inside a number, so it is
        a CutLine, not read."""
        if not self._use_scanner:
            for number, line in enumerate(lines, 1):
                if line.endswith("\n"):
                    yield from self._parse(line, number)
                elif line.strip():
                    yield CutLine(number, line)
            return
        match, one_token = self._scanner.match, self._one_token
        pairs = {
            group: (head, EVENT_DECODERS[body])
            for group, (head, body) in self._scanner.pairs.items()
        }
        event = self._records.event
        common = COMMON_LINE.match
        prefixes = self._records._prefixes
        for number, line in enumerate(lines, 1):
            if (m := common(line)) is not None and m.end() == len(line):
                if self._records.format is None:
                    self._records.format = Format.TRACE_PIPE
                yield common_record(m, number, line, prefixes)
                continue
            if (tokens := match(line)) is None or tokens.end() != len(line):
                if not line.endswith("\n"):  # the last line, cut
                    if line.strip():
                        yield CutLine(number, line)
                    continue
                if tokens is None or tokens.end() != len(line):
                    yield from self._parse(line, number)
                    continue
            kind: str = tokens.lastgroup  # type: ignore[assignment]
            try:
                if (pair := pairs.get(kind)) is not None:
                    record = event(pair[0], pair[1], line, tokens.start(kind), number)
                else:
                    self._records.first_line = number
                    record = one_token[kind]([Token(kind, line, 0, 1, 1)])
            except ValueError:
                record = _overlong_number(number, line)
            if record is not None:
                yield record

    def _parse(self, text: str, number: int) -> Iterator[Record]:
        """Lark's own parse of one line the scanner did not read."""
        self._records.first_line = number
        try:
            records = self._lark.parse(text)
        except UnexpectedInput as error:
            text = text.rstrip("\n")
            records = [ParseError(number, _describe(error, text), text)]
        except ValueError:
            records = [_overlong_number(number, text)]
        return (record for record in records if record is not None)


def _overlong_number(number: int, line: str) -> ParseError:
    """A line in the grammar whose number int() refuses to convert (more
    digits than sys.get_int_max_str_digits()): no kernel prints one."""
    return ParseError(
        number,
        "a number too long to convert (the kernel prints at most 20 digits)",
        line.rstrip("\n"),
    )
