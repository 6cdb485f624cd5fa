"""Opening a log file: plain or gzip-compressed, standard input, a gzip
stream cut short read to where its data ends, and a binary capture
(trace.dat, perf.data) recognised and named with the command that prints it
as text. traces/parser.py reads the lines."""

import gzip
import io
import shlex
import sys
from pathlib import Path
from typing import IO

GZIP_MAGIC = b"\x1f\x8b"

# Binary captures, by the magic their files start with: what they are and
# the command that prints them as the text check-trace reads.
BINARY_CAPTURES = (
    (b"\x17\x08\x44tracing", "a trace-cmd binary capture (trace.dat)", "trace-cmd report -i"),
    (b"PERFILE2", "a perf binary capture (perf.data)", "perf script -i"),
    (b"2ELIFREP", "a perf binary capture (perf.data, big-endian)", "perf script -i"),
    (b"PERFFILE", "a perf binary capture (perf.data, version 1)", "perf script -i"),
)


class BinaryCapture(ValueError):
    """The file is a trace-cmd or perf binary capture, not text."""


def _text_of(path: str) -> str:
    """`FILE > FILE.txt` for the binary capture at `path`, quoted for a
    shell; the text goes beside it, never over it."""
    if path == "-":
        return "FILE > FILE.txt"
    text = Path(path).with_suffix(".txt")
    if str(text) == path:
        text = Path(path + ".txt")
    return f"{shlex.quote(path)} > {shlex.quote(str(text))}"


class TruncatedGzip(gzip.GzipFile):
    """A gzip stream that ends where its data ends: a file cut before the
    end-of-stream marker reads as what it holds, and says so (`truncated`),
    rather than raising EOFError and losing the lines already read."""

    truncated = False

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:  # GzipFile's own loses all it read
            return b"".join(iter(lambda: self.read1(io.DEFAULT_BUFFER_SIZE), b""))
        try:
            return super().read(size)
        except EOFError:
            self.truncated = True
            return b""

    def read1(self, size: int = -1) -> bytes:
        try:
            return super().read1(size)
        except EOFError:
            self.truncated = True
            return b""

    def peek(self, n: int) -> bytes:
        try:
            return super().peek(n)
        except EOFError:
            self.truncated = True
            return b""


def truncated(lines: IO[str]) -> bool:
    """Did the stream `open_log` gave end early (a truncated gzip)?"""
    return getattr(getattr(lines, "buffer", None), "truncated", False)


def open_log(path: str, raw: IO[bytes] | None = None) -> IO[str]:
    """A text stream of the log at `path` ("-" is standard input), plain or
    gzip-compressed, read through `raw` when given (a reader that counts
    bytes for a progress bar); undecodable bytes become U+FFFD rather than
    errors.  Raises BinaryCapture, naming the command that makes it text,
    for a trace.dat or perf.data file."""
    if raw is None:
        raw = sys.stdin.buffer if path == "-" else open(path, "rb")
    buffered = io.BufferedReader(raw) if not isinstance(raw, io.BufferedReader) else raw
    try:
        if buffered.peek(2)[:2] == GZIP_MAGIC:
            buffered = TruncatedGzip(fileobj=buffered)  # type: ignore[assignment]
        start = buffered.peek(16)
        for magic, what, command in BINARY_CAPTURES:
            if start.startswith(magic):
                raise BinaryCapture(
                    f"{what}, not text: check the text that `{command} {_text_of(path)}` prints"
                )
    except BaseException:
        if raw is not sys.stdin.buffer:
            raw.close()
        raise
    return io.TextIOWrapper(buffered, encoding="utf-8", errors="replace")
