"""The transformer Lark applies while it parses a log (traces/parser.py):
one record, or None, per line of the grammar's rules."""

from lark import Token, Transformer

from percpu_mc.traces.decoders import (
    EVENT_DECODERS,
    FRACTION_SCALE,
    PREFIX_CACHE,
    Decoder,
    line_prefix,
    nanoseconds,
)
from percpu_mc.traces.events import BufferEntries, Columns, Format, LostEvents, Record


class ToRecords(Transformer):
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
            known = self._prefixes[prefix] = line_prefix(head_type, prefix)
        _, comm, pid, tgid, cpu, flags = known
        timestamp = text[space + 1 : end - 1]
        dot = timestamp.find(".")
        digits = len(timestamp) - dot - 1
        if dot > 0 and digits < len(FRACTION_SCALE):
            ns = int(timestamp.replace(".", "")) * FRACTION_SCALE[digits]
        else:
            ns = nanoseconds(timestamp)
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
