"""What every command shares: stopping cleanly on SIGINT/SIGTERM, and the
exit statuses that say so (128 + the signal's number, as a shell does); the
version; option values checked as argparse reads them; progress on stderr."""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sys
import threading
import time
from contextlib import contextmanager
from importlib import metadata
from types import FrameType
from typing import Any, Callable, Iterator, NoReturn, Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from percpu_mc.checker.errors import Failure

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """Raised where no engine is polling: the run stops where it is."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class Interrupt:
    """The signal handlers of one run, and the `Watch` its engine polls.

    An engine in native code (Z3, the compiled search) does not return to the
    interpreter when a signal arrives, so a thread woken by the signal
    (`signal.set_wakeup_fd`) records it at once and runs the `on_stop` hooks
    (Z3's interrupt); the engine sees `stopped()` at its next poll and
    returns what it has settled.  Outside an engine (`polled` false) the
    handler raises `Interrupted` instead."""

    def __init__(self) -> None:
        self.signum = 0
        self.polled = False
        self.on_stop: list[Callable[[], None]] = []
        self.display: Status | None = None  # where `show` goes

    # the Watch protocol (checker/result.py)
    def stopped(self) -> bool:
        return self.signum != 0

    def show(self, text: str, states: int | None = None) -> None:
        if self.display is not None:
            self.display.show(text, states)

    @property
    def status(self) -> int:
        return 128 + self.signum

    def _stop(self, signum: int) -> None:
        if self.signum:
            return
        self.signum = signum
        for hook in self.on_stop:
            hook()

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self._stop(signum)
        if not self.polled:
            raise Interrupted(signum)

    def _wake(self, fd: int) -> None:
        while data := os.read(fd, 64):
            for b in data:
                if b in SIGNALS:
                    self._stop(b)
                elif b == 0:  # closed by `uninstall`
                    return

    @contextmanager
    def installed(self) -> Iterator[Interrupt]:
        read, write = os.pipe()
        os.set_blocking(write, False)
        # the waker runs before any signal can reach the handler, and a signal
        # that arrives while the handlers go in restores them on its way out
        waker = threading.Thread(target=self._wake, args=(read,), daemon=True)
        waker.start()
        old_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        previous = {s: signal.getsignal(s) for s in SIGNALS}
        try:
            for s in SIGNALS:
                signal.signal(s, self._handler)
            yield self
        finally:
            signal.set_wakeup_fd(old_fd)
            for s, h in previous.items():
                signal.signal(s, h)
            os.write(write, b"\0")
            waker.join(1)
            os.close(write)
            if not waker.is_alive():
                os.close(read)

    @contextmanager
    def polling(self) -> Iterator[Interrupt]:
        """Within: a signal is only recorded; the engine polls `stopped()`."""
        self.polled = True
        try:
            yield self
        finally:
            self.polled = False


def stderr_console(asked: bool) -> Console:
    """The console of progress on stderr: live on a terminal, and where the
    user asked for it (--progress) on whatever stderr is."""
    return Console(stderr=True, force_terminal=True if asked else None)


def showing(console: Console, asked: bool) -> bool:
    """Progress is drawn on a terminal, or anywhere when asked for."""
    return asked or console.is_terminal


class Status:
    """One line on stderr redrawn in place (rich.progress): what the engine
    is on and for how long (the clock restarts when that changes), and for a
    search the states stored, their rate and the peak memory.  Drawn while
    `with status.bar:`; off, it draws nothing."""

    def __init__(self, console: Console, enabled: bool, text: str = ""):
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}"),
            console=console,
            transient=True,
            disable=not enabled,
        )
        self.task = self.bar.add_task(text, note="")
        self.text = text
        self.start = time.monotonic()

    def show(self, text: str, states: int | None = None) -> None:
        if text != self.text:
            self.text = text
            self.bar.reset(self.task, description=text, note="")
        if states is not None:
            rate = states / max(time.monotonic() - self.start, 1e-3)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
            self.bar.update(
                self.task, note=f"{states:,} states, {rate:,.0f}/s, peak {peak:,.0f} MiB"
            )


def reading_bar(console: Console, enabled: bool) -> Progress:
    """Progress of logs read: bytes of the file's size, lines, time."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[lines]:,} lines"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not enabled,
    )


def say_interrupted(prog: str, signum: int) -> None:
    name = signal.Signals(signum).name
    print(
        f"{prog}: interrupted by {name}; the verdicts above are those settled before it",
        file=sys.stderr,
    )


def quiet_closed_stdout() -> None:
    """The reader of stdout is gone (`| head -1`): nothing more to write, and
    no error at exit flushing what is left; the exit status stays the verdict's."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


class _PipeConsole(Console):
    """rich ends the program with exit status 1 when stdout's reader goes
    away (Console.on_broken_pipe); this raises BrokenPipeError instead, so
    the command ends with its verdict's status."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        quiet_closed_stdout()
        raise BrokenPipeError


def stdout_console(**options: Any) -> Console:
    """A rich Console on stdout whose closed pipe (`| head -1`) raises
    BrokenPipeError, for the caller to end with its verdict's exit status."""
    return _PipeConsole(**options)


class Parser(argparse.ArgumentParser):
    """argparse with a usage error raised as a `Failure` (one line, exit 2,
    JSON under --json) rather than the usage text and an exit."""

    def error(self, message: str) -> NoReturn:
        raise Failure(f"{message} (see {self.prog} --help)")


def wants_json(argv: Sequence[str] | None) -> bool:
    """Whether the command line asks for --json, read before it is parsed
    (so that a usage error can be answered in JSON too)."""
    return "--json" in (sys.argv[1:] if argv is None else argv)


def fail(prog: str, failure: Failure, as_json: bool, status: int = 2) -> int:
    """Report bad input: one line on stderr; under --json also its document
    on stdout."""
    print(f"{prog}: {failure}", file=sys.stderr)
    if as_json:
        try:
            print(json.dumps(failure.doc()), flush=True)
        except BrokenPipeError:
            quiet_closed_stdout()
    return status


def version() -> str:
    """The installed distribution's version (`--version`)."""
    return metadata.version("percpu-mc")


def add_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")


def at_least(low: int | float, kind: type = int, *, above: bool = False) -> Callable[[str], Any]:
    """An argparse `type=`: a number of `kind` no smaller than `low` (greater,
    with `above`), so a bad value is a usage error (exit 2) before any work."""
    noun = "an integer" if kind is int else "a number"

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, not {text!r}") from None
        if not (value > low if above else value >= low):  # also refuses nan
            raise argparse.ArgumentTypeError(
                f"must be {'greater than' if above else 'at least'} {low}, not {text}"
            )
        return value

    return convert
