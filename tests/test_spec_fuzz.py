"""Fuzzing spec files: shipped specs with values out of range, keys and
tables misnamed, or the text garbled.  The loader answers with a spec or one
SpecError naming the file (and a line of it, where it names one), never
another exception; a loaded spec's parameters are within the bounds the
checker carries; and check-model on such files exits 0, 1 or 2, never with
a traceback.

HYPOTHESIS_PROFILE=bench selects a long run (benchmarks, not CI):
    HYPOTHESIS_PROFILE=bench pytest -p no:xdist tests/test_spec_fuzz.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percpu_mc.checker import specs
from percpu_mc.model.domains import domains
from percpu_mc.model.params import MAX_SYMMETRIES, param_names, switch_names

PROFILES = {
    "ci": (
        settings(
            max_examples=150,
            deadline=timedelta(seconds=5),
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        ),
        settings(
            max_examples=3,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    ),
    "bench": (
        settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]),
        settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]),
    ),
}
LOADER, COMMAND = PROFILES.get(os.environ.get("HYPOTHESIS_PROFILE", "ci"), PROFILES["ci"])
SHIPPED = [specs.resolve(name).read_text() for name in ("seed", "v4.13", "v5.14", "pre-async")]

values = st.one_of(
    st.integers(-3, 12).map(str),
    st.sampled_from(
        [
            "0",
            "-1",
            "100000",
            "1000000000000",
            "99999999999999999999",
            "true",
            '"2"',
            "[]",
            "[1, 2, 2]",
            "[0]",
            "[3, 1]",
            "[1, 16]",
            "{}",
            "1.5",
            "nan",
            '"unlocked"',
            '"none"',
        ]
    ),
)
names = st.one_of(
    st.sampled_from(param_names() + switch_names() + ["depth", "violated"]),
    st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
)


@st.composite
def mutated_spec(draw: st.DrawFn) -> str:
    """A shipped spec with a few lines changed: a key's value replaced, a
    key renamed, a table header renamed or broken, or characters garbled."""
    lines = draw(st.sampled_from(SHIPPED)).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        how = draw(st.sampled_from(["value", "key", "header", "garble", "add"]))
        if how == "value" and "=" in line and not line.startswith("["):
            lines[i] = f"{line.split('=')[0].strip()} = {draw(values)}"
        elif how == "key" and "=" in line:
            lines[i] = f"{draw(names)} = {line.split('=', 1)[1].strip()}"
        elif how == "header":
            lines[i] = draw(
                st.sampled_from(
                    [
                        "[params",
                        "[paramz]",
                        "[params.x]",
                        "[[expect]]",
                        "[switches]",
                        "[expect.why]",
                        "[]",
                    ]
                )
            )
        elif how == "add":
            lines.insert(i, f"{draw(names)} = {draw(values)}")
        else:
            j = draw(st.integers(0, len(line)))
            lines[i] = line[:j] + draw(st.text(max_size=3)) + line[j + draw(st.integers(0, 3)) :]
    return "\n".join(lines) + "\n"


@LOADER
@given(text=mutated_spec())
def test_loader_answers_a_spec_or_one_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzzed.toml"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            spec = specs.load(str(path))
        except specs.SpecError as error:
            assert error.file == str(path) and error.message
            assert error.line is None or 1 <= error.line <= max(1, len(text.splitlines()))
            return
    p = spec.params
    assert p.validate() == []
    assert p.symmetries(MAX_SYMMETRIES) <= MAX_SYMMETRIES
    # every field the symbolic engines hold (but the counter, whose range is
    # a depth's) fits their signed width
    top = 1 << (p.width - 1)
    for name, dom in domains(p, 1).items():
        if name not in ("nr_empty_pop_pages", "counter_reg", "nr_to_pop"):
            assert -top <= dom.lo and dom.hi < top, name


@COMMAND
@given(text=mutated_spec())
def test_check_model_exits_0_1_or_2(text: str) -> None:
    """The installed check-model on a fuzzed spec, BMC to depth 1."""
    script = shutil.which("check-model", path=str(Path(sys.executable).parent))
    assert script
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzzed.toml"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        done = subprocess.run(
            [
                script,
                "--spec",
                str(path),
                "--depth",
                "1",
                "--engine",
                "bmc",
                "--property",
                "no-deadlock",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp,
        )
    assert done.returncode in (0, 1, 2), done.stderr
    assert "Traceback" not in done.stderr
    if done.returncode == 2:
        assert done.stderr.startswith("check-model: ") and done.stderr.count("\n") == 1
