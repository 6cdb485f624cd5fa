"""Fuzzing check-trace's input: the shipped captures, mutated line by line
and byte by byte, through `main` in-process. Whatever the input, the answer
is an exit status of 0, 1 or 2 with its verdict, never a traceback, and no
output line long enough to be an echo of a runaway input line.

HYPOTHESIS_PROFILE=bench selects a long run (benchmarks, not CI):
    HYPOTHESIS_PROFILE=bench pytest -p no:xdist tests/test_trace_fuzz.py
"""

import gzip
import io
import json
import os
from contextlib import redirect_stderr, redirect_stdout
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percpu_mc.checker.cli.check_trace import EXIT_STATUS, main

SAMPLES = Path(__file__).parent / "trace_samples"
# Small inputs keep an example fast: boot.trace whole, the model's
# counterexample log, and mix.trace.gz's first 1500 lines (raw pointers,
# chunk creation, atomic and reserved requests).
with gzip.open(SAMPLES / "mix.trace.gz", "rt") as mix:
    MIX_HEAD = "".join(line for _, line in zip(range(1500), mix))
CAPTURES = [
    (SAMPLES / "boot.trace").read_text(),
    (SAMPLES / "seed-no-use-after-free.trace").read_text(),
    MIX_HEAD,
]

PROFILES = {
    "ci": settings(
        max_examples=25,
        deadline=timedelta(seconds=20),
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    ),
    "bench": settings(
        max_examples=3000,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    ),
}
FUZZ = PROFILES.get(os.environ.get("HYPOTHESIS_PROFILE", "ci"), PROFILES["ci"])
OPTIONS = st.sampled_from(
    [[], ["--json"], ["--strict"], ["--partial"], ["--no-partial", "--json"], ["--window-us", "0"]]
)
# The widest line check-trace prints: an event line (400 characters) or a
# message naming a few numbers, indented.
WIDEST = 1000

numbers = st.one_of(
    st.integers(-10, 10_000).map(str),
    st.sampled_from(
        ["0", "-1", "18446744073709551615", "99999999999999999999999", "1" * 5000, "0x10", ""]
    ),
)
tokens = st.one_of(
    numbers,
    st.sampled_from(
        [
            "percpu_alloc_percpu:",
            "percpu_free_percpu:",
            "percpu:",
            "base_addr=",
            "(____ptrval____)",
            "[001]",
            "[",
            "]",
            "#P:",
            "CPU:0 [LOST 3 EVENTS]",
            "<-",
            "\t",
            "\x00",
            "\ufffd",
            " ",
        ]
    ),
    st.text(max_size=12),
)


@st.composite
def mutated_lines(draw: st.DrawFn) -> bytes:
    """A capture with a few lines dropped, repeated, swapped, cut, or with
    one word replaced by a number, a format token or any text."""
    lines = draw(st.sampled_from(CAPTURES)).splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(lines) - 1))
        match draw(st.sampled_from(["drop", "repeat", "swap", "cut", "word", "insert"])):
            case "drop":
                del lines[i]
            case "repeat":
                lines.insert(i, lines[i])
            case "swap":
                j = draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
            case "cut":
                lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
            case "word":
                words = lines[i].split(" ")
                k = draw(st.integers(0, len(words) - 1))
                key, equals, _ = words[k].partition("=")
                words[k] = (key + equals if equals and draw(st.booleans()) else "") + draw(tokens)
                lines[i] = " ".join(words)
            case "insert":
                lines.insert(i, draw(st.text(max_size=80)) + "\n")
        if not lines:
            break
    return "".join(lines).encode("utf-8", "surrogatepass")


@st.composite
def mutated_bytes(draw: st.DrawFn) -> bytes:
    """A capture with bytes flipped, inserted or deleted, cut short, or
    gzip-compressed and then damaged."""
    data = bytearray(draw(st.sampled_from(CAPTURES)).encode())
    if draw(st.booleans()):
        data = bytearray(gzip.compress(bytes(data), mtime=0))
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, len(data)))
        match draw(st.sampled_from(["flip", "insert", "delete", "truncate"])):
            case "flip" if i < len(data):
                data[i] ^= 1 << draw(st.integers(0, 7))
            case "insert":
                data[i:i] = draw(st.binary(min_size=1, max_size=64))
            case "delete":
                del data[i : i + draw(st.integers(1, 512))]
            case "truncate":
                del data[i:]
    return bytes(data)


def check(tmp_path_factory: pytest.TempPathFactory, data: bytes, options: list[str]) -> None:
    log = tmp_path_factory.mktemp("fuzz") / "log"
    log.write_bytes(data)
    with redirect_stdout(io.StringIO()) as stdout, redirect_stderr(io.StringIO()) as stderr:
        status = main([*options, str(log)])
    out, err = stdout.getvalue(), stderr.getvalue()
    assert status in (0, 1, 2) and "Traceback" not in out + err
    assert all(len(line) <= WIDEST for line in out.splitlines())
    if "--json" in options:
        assert EXIT_STATUS[json.loads(out)["verdict"]] == status
    else:
        assert out.splitlines()[-1] in {f"verdict: {v}" for v in EXIT_STATUS}


@FUZZ
@given(mutated_lines(), OPTIONS)
def test_mutated_lines(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, options: list[str]
) -> None:
    check(tmp_path_factory, data, options)


@FUZZ
@given(mutated_bytes(), OPTIONS)
def test_mutated_bytes(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, options: list[str]
) -> None:
    check(tmp_path_factory, data, options)
