"""Streaming reader of ftrace logs: text in, typed records (traces.events) out.

The grammar, traces/ftrace.lark, defines every accepted line; Lark compiles
it (LALR, contextual lexer) with the transformer below applied during
parsing, so no tree is built and memory stays bounded by one line however
long the log is. A line is read by the scanner of traces/scanner.py, which
is Lark's contextual lexer compiled from the grammar's own terminals into
one match per token, and whose tokens go to the same transformer; a line the
scanner does not match whole is parsed by Lark's parser, which names what a
bad line lacks.
"""

import re
from collections.abc import Callable, Iterable, Iterator
from importlib import resources

from lark import Lark, Token, Transformer, UnexpectedInput

from percpu_mc.traces.events import (
    BufferEntries,
    Columns,
    CutLine,
    Format,
    FunctionCall,
    LostEvents,
    OtherEvent,
    ParseError,
    PercpuAlloc,
    PercpuAllocFail,
    PercpuCreateChunk,
    PercpuDestroyChunk,
    PercpuFree,
    ProbeHit,
    Record,
)
from percpu_mc.traces.scanner import LineScanner

# Distinct line prefixes (task, pid, cpu, flags) remembered: a log repeats a
# few dozen; the bound keeps memory flat on a log that does not.
PREFIX_CACHE = 4096

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


def _pointer(text: str) -> int | None:
    return None if text.startswith("(") else int(text, 16)


def _values(fields: str, count: int) -> list[str]:
    """The last `count` values of "name: key=value key=value ...", in
    order. No key or value holds a space or an "=", and only the last value
    (gfp_flags) may be empty: the grammar says so."""
    words = fields.replace("=", " ").split()
    if fields.endswith("=\n"):
        words.append("")
    return words[1 - 2 * count :: 2]


# 10 ** (9 - digits): nanoseconds per unit of a fraction with that many digits.
_FRACTION_SCALE = [10 ** (9 - digits) for digits in range(10)]


def _nanoseconds(timestamp: str) -> int:
    """A TIMESTAMP in nanoseconds, or in ticks for counter clocks."""
    dot = timestamp.find(".")
    if dot < 0:
        return int(timestamp)
    digits = len(timestamp) - dot - 1
    units = int(timestamp[:dot] + timestamp[dot + 1 :])
    if digits < len(_FRACTION_SCALE):
        return units * _FRACTION_SCALE[digits]
    return units // 10 ** (digits - 9)


def _prefix(head_type: str, prefix: str) -> tuple:
    """The Event fields comm, pid, tgid, cpu and flags of a line, from its
    prefix token up to the space before the timestamp."""
    # The CPU is the last bracket: comm may hold anything, the flags hold no "[".
    task, _, right = prefix.rpartition("[")
    cpu, _, flags = right.partition("]")
    tgid: int | None = None
    task = task.rstrip()
    if head_type == "PERF_HEAD":
        comm, _, pid = task.rpartition(" ")
        tgid_text, _, pid = pid.rpartition("/")
        if tgid_text:
            tgid = int(tgid_text)
        return head_type, comm.strip(), int(pid), tgid, int(cpu), None
    if task[-1] == ")":
        task, _, tgid_text = task[:-1].rpartition("(")
        tgid_text = tgid_text.strip()
        tgid = int(tgid_text) if tgid_text.isdigit() else None
        task = task.rstrip()
    comm, _, pid = task.rpartition("-")
    return head_type, comm.strip(), int(pid), tgid, int(cpu), flags.strip() or None


def _alloc_v519(common: tuple, body: str) -> PercpuAlloc:
    # call_site may end in " [module]": cut it off at the next field.
    call_site, _, rest = body.partition("call_site=")[2].partition(" reserved=")
    words = rest.replace("=", " ").split()  # as in _values
    if rest.endswith("=\n"):
        words.append("")
    reserved, is_atomic, size, align, base, off, ptr, bytes_alloc, gfp = words[::2]
    return PercpuAlloc(
        *common,
        call_site,
        reserved == "1",
        is_atomic == "1",
        int(size),
        int(align),
        None if base[0] == "(" else int(base, 16),
        int(off),
        None if ptr[0] == "(" else int(ptr, 16),
        int(bytes_alloc),
        gfp,
    )


def _alloc_v413(common: tuple, body: str) -> PercpuAlloc:
    reserved, is_atomic, size, align, base, off, ptr = _values(body, 7)
    return PercpuAlloc(
        *common,
        None,
        reserved == "1",
        is_atomic == "1",
        int(size),
        int(align),
        _pointer(base),
        int(off),
        _pointer(ptr),
        None,
        None,
    )


def _alloc_fail(common: tuple, body: str) -> PercpuAllocFail:
    reserved, is_atomic, size, align = _values(body, 4)
    return PercpuAllocFail(*common, reserved == "1", is_atomic == "1", int(size), int(align))


def _free(common: tuple, body: str) -> PercpuFree:
    base, off, ptr = body.replace("=", " ").split()[-5::2]  # _values(body, 3), inline
    return PercpuFree(
        *common,
        None if base[0] == "(" else int(base, 16),
        int(off),
        None if ptr[0] == "(" else int(ptr, 16),
    )


def _create_chunk(common: tuple, body: str) -> PercpuCreateChunk:
    return PercpuCreateChunk(*common, _pointer(body.rpartition("=")[2].rstrip()))


def _destroy_chunk(common: tuple, body: str) -> PercpuDestroyChunk:
    return PercpuDestroyChunk(*common, _pointer(body.rpartition("=")[2].rstrip()))


def _function(common: tuple, body: str) -> FunctionCall:
    words = body.split()
    if words[0] == "function:":  # trace-cmd: "function: func <-- parent"
        return FunctionCall(*common, words[1], words[3])
    return FunctionCall(*common, words[0], words[1][2:])


def _probe(common: tuple, body: str) -> ProbeHit:
    name, _, rest = body.strip().partition(": (")
    site, _, args = rest.rpartition(")")
    return ProbeHit(
        *common, name, site, tuple(tuple(kv.partition("=")[::2]) for kv in args.split())
    )


def _other(common: tuple, body: str) -> OtherEvent:
    return OtherEvent(*common, body.split(None, 1)[0][:-1])


Decoder = Callable[[tuple, str], Record]

# The two lines that make nearly all of a capture, as the ftrace file prints
# them (irq-info on, no TGID column, 16-digit hashed or raw pointers, a
# six-decimal timestamp), read in one match.  A sublanguage of the grammar's
# FTRACE_HEAD + ALLOC_V519 and + FREE: the task is cut where the grammar's
# TASK_PID cuts it (the first "-PID" before spaces and "[" or "(", and no
# going back), and numbers have at most 20 digits.  Anything else goes to the
# scanner; tests/test_trace_parser.py checks both read lines as Lark does.
_D = r"([0-9]{1,20})"
_P = r"([0-9a-f]{16})"
COMMON_LINE = re.compile(
    r"((?>[ \t]*[^\n]+?-[0-9]+(?= +[(\[])) +\[[0-9]+\] [.dDXbNnpZzHhs0-9a-f]{4,5}(?= ) *)"
    r" ([0-9]{1,12})\.([0-9]{6}): "
    r"(?:percpu_alloc_percpu: call_site=([^\s]+(?: \[[\w-]+\])?) reserved=([01]) "
    rf"is_atomic=([01]) size={_D} align={_D} base_addr={_P} off=(-?[0-9]{{1,20}}) "
    rf"ptr={_P} bytes_alloc={_D} gfp_flags=([\w|]*)"
    rf"|percpu_free_percpu: base_addr={_P} off=(-?[0-9]{{1,20}}) ptr={_P})\n"
)

EVENT_DECODERS: dict[str, Decoder] = {
    "ALLOC_V519": _alloc_v519,
    "ALLOC_V413": _alloc_v413,
    "ALLOC_FAIL": _alloc_fail,
    "FREE": _free,
    "CREATE_CHUNK": _create_chunk,
    "DESTROY_CHUNK": _destroy_chunk,
    "FUNCTION": _function,
    "PROBE": _probe,
    "OTHER_EVENT": _other,
}


class _ToRecords(Transformer):
    """One record (or None, for lines that carry nothing) per line."""

    def __init__(self) -> None:
        super().__init__()
        self.first_line = 1  # line number of the text's first line
        self.format: Format | None = None  # as far as the lines tell
        # prefix text -> (head type, comm, pid, tgid, cpu, flags)
        self._prefixes: dict[str, tuple] = {}

    def _line(self, token: Token) -> int:
        return self.first_line + token.line - 1

    def start(self, records: list) -> list:
        return records

    def event_line(self, children: list[Token]) -> Record:
        head, body = children
        return self.event(
            head.type, EVENT_DECODERS[body.type], head + body, len(head), self._line(head)
        )

    def event(self, head_type: str, decode: Decoder, text: str, end: int, line: int) -> Record:
        """The record of an event line `text`, newline included, which is a
        token of type `head_type` up to `end`, then an event token that
        `decode` (of EVENT_DECODERS) reads."""
        if self.format is None:
            self.format = Format.PERF if head_type == "PERF_HEAD" else Format.TRACE_PIPE
        space = text.rfind(" ", 0, end)  # the prefix ends before the timestamp
        prefix = text[:space]
        known = self._prefixes.get(prefix)
        if known is None or known[0] != head_type:
            if len(self._prefixes) >= PREFIX_CACHE:
                self._prefixes.clear()
            known = self._prefixes[prefix] = _prefix(head_type, prefix)
        _, comm, pid, tgid, cpu, flags = known
        timestamp = text[space + 1 : end - 1]
        dot = timestamp.find(".")
        digits = len(timestamp) - dot - 1
        if dot > 0 and digits < len(_FRACTION_SCALE):
            ns = int(timestamp.replace(".", "")) * _FRACTION_SCALE[digits]
        else:
            ns = _nanoseconds(timestamp)
        return decode((line, comm, pid, tgid, cpu, flags, timestamp, ns, text[:-1]), text[end:])

    def lost_line(self, children: list[Token]) -> LostEvents:
        (token,) = children
        cpu = token.partition(":")[2].split()[0]
        counts = [word for word in token.split("[")[1].split() if word.isdigit()]
        return LostEvents(self._line(token), int(cpu), int(counts[0]) if counts else None)

    def tracer_line(self, children: list[Token]) -> None:
        self.format = Format.TRACE

    def entries_line(self, children: list[Token]) -> BufferEntries:
        (token,) = children
        counts, _, cpus = token.partition(":")[2].partition("#P:")
        in_buffer, written = counts.split("/")
        return BufferEntries(self._line(token), int(in_buffer), int(written), int(cpus))

    def columns_line(self, children: list[Token]) -> Columns:
        (token,) = children
        words = token.split()
        irq_info = next((len(word) for word in words if set(word) == {"|"}), 0)
        return Columns(self._line(token), irq_info, "TGID" in words)

    def _trace_cmd(self, children: list[Token]) -> None:
        if self.format is None:
            self.format = Format.TRACE_CMD

    cpus_line = version_line = cpu_empty_line = _trace_cmd

    def comment_line(self, children: list[Token]) -> None:
        return None

    blank_line = comment_line


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
        self._records = _ToRecords()
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
                yield self._common(m, number, line, prefixes)
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

    def _common(self, m: re.Match, number: int, line: str, prefixes: dict) -> Record:
        """The record of a COMMON_LINE match, as event() makes it."""
        if self._records.format is None:
            self._records.format = Format.TRACE_PIPE
        prefix = m[1]
        known = prefixes.get(prefix)
        if known is None or known[0] != "FTRACE_HEAD":
            if len(prefixes) >= PREFIX_CACHE:
                prefixes.clear()
            known = prefixes[prefix] = _prefix("FTRACE_HEAD", prefix)
        _, comm, pid, tgid, cpu, flags = known
        (
            _,
            seconds,
            micro,
            site,
            reserved,
            atomic,
            size,
            align,
            base,
            off,
            ptr,
            bytes_alloc,
            gfp,
            free_base,
            free_off,
            free_ptr,
        ) = m.groups()
        timestamp = seconds + "." + micro
        ns = int(seconds + micro) * 1000
        text = line[:-1]
        if site is not None:
            return PercpuAlloc(
                number,
                comm,
                pid,
                tgid,
                cpu,
                flags,
                timestamp,
                ns,
                text,
                site,
                reserved == "1",
                atomic == "1",
                int(size),
                int(align),
                int(base, 16),
                int(off),
                int(ptr, 16),
                int(bytes_alloc),
                gfp,
            )
        return PercpuFree(
            number,
            comm,
            pid,
            tgid,
            cpu,
            flags,
            timestamp,
            ns,
            text,
            int(free_base, 16),
            int(free_off),
            int(free_ptr, 16),
        )

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
