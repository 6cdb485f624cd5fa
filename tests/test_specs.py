"""Specs are data the tests hold the model to (kernel history is data), and bad
ones fail clearly (one message, exit 2): every shipped spec loads, with valid
parameters and expectations that name real properties; every kind of broken
spec is one SpecError naming the file and, where the loader knows it, the
line."""

from __future__ import annotations

from pathlib import Path

import pytest

from percpu_mc.checker.specs import SpecError, available, load
from percpu_mc.model.properties import PROPERTIES

VALID = """\
name = "tmp"
description = "a small valid spec"

[params]
unit_pages = 2
cells_per_page = 2
sizes = [1, 2]

[switches]
counter_update = "locked"
async_gate = true

[expect]
depth = 6
violated = ["counter-exact"]
holds = ["no-deadlock"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_some_specs_ship() -> None:
    """The variants of the README's known-bug table are all shipped."""
    assert {"pre-async", "seed", "v3.18", "v4.7", "v4.13"} <= set(available())


@pytest.mark.parametrize("name", available())
def test_shipped_spec_loads(name: str) -> None:
    """A shipped spec loads under its own name, its parameters validate, and
    its expected verdicts name real properties, none both violated and held."""
    spec = load(name)
    assert spec.name == name
    assert spec.params.validate() == []
    assert set(spec.violated) <= set(PROPERTIES)
    assert set(spec.holds) <= set(PROPERTIES)
    assert not set(spec.violated) & set(spec.holds)
    assert set(spec.notes) <= set(spec.violated) | set(spec.holds)
    assert spec.depth >= 1


def test_valid_spec_from_a_path(tmp_path: Path) -> None:
    """A spec given by path loads, with its parameters, switches and
    expectations; what it leaves out keeps the defaults."""
    spec = load(str(write(tmp_path, VALID)))
    assert (spec.name, spec.depth, spec.violated, spec.holds) == (
        "tmp",
        6,
        ("counter-exact",),
        ("no-deadlock",),
    )
    assert spec.params.sizes == (1, 2)
    assert spec.params.switches.counter_update == "locked"
    assert spec.params.nr_chunks == 3  # the default


# (what is broken, text replaced, replacement, the key the error must name)
BROKEN = [
    (
        "unknown top-level key",
        'description = "a small valid spec"',
        'description = "a small valid spec"\ncolour = "red"',
        "colour",
    ),
    ("unknown parameter", "unit_pages = 2", "unit_pagez = 2", "unit_pagez"),
    (
        "parameter of the wrong type",
        "cells_per_page = 2",
        'cells_per_page = "two"',
        "cells_per_page",
    ),
    ("sizes not a list", "sizes = [1, 2]", 'sizes = "small"', "sizes"),
    ("unknown switch", "async_gate = true", "async_gait = true", "async_gait"),
    (
        "switch value outside its choices",
        'counter_update = "locked"',
        'counter_update = "sometimes"',
        "counter_update",
    ),
    ("boolean switch given a string", "async_gate = true", 'async_gate = "yes"', "async_gate"),
    (
        "unknown property expected violated",
        'violated = ["counter-exact"]',
        'violated = ["counter-exakt"]',
        "counter-exakt",
    ),
    (
        "unknown property expected to hold",
        'holds = ["no-deadlock"]',
        'holds = ["no-deadlock", "no-livelock"]',
        "no-livelock",
    ),
    (
        "property both violated and held",
        'holds = ["no-deadlock"]',
        'holds = ["counter-exact"]',
        "counter-exact",
    ),
    ("depth not positive", "depth = 6", "depth = 0", "depth"),
]


@pytest.mark.parametrize("what, old, new, key", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_spec_names_file_and_line(
    tmp_path: Path, what: str, old: str, new: str, key: str
) -> None:
    """A spec with one bad entry fails with a SpecError that names the file,
    the line of the bad entry, and the entry itself."""
    assert old in VALID
    text = VALID.replace(old, new)
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as err:
        load(str(path))
    msg = str(err.value)
    assert msg.startswith(f"{path}:{line_of(text, new.splitlines()[-1])}:"), msg
    assert key in msg


def test_malformed_toml(tmp_path: Path) -> None:
    """A spec that is not TOML fails with a SpecError naming the file and the
    line where the TOML parser stopped."""
    text = VALID.replace("[switches]", "[switches")
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as err:
        load(str(path))
    msg = str(err.value)
    assert msg.startswith(str(path)) and "TOML" in msg
    assert f"line {line_of(text, '[switches')}" in msg


@pytest.mark.parametrize(
    "param, value", [("unit_pages", 0), ("nr_contexts", 0), ("empty_pop_pages_low", 5)]
)
def test_invalid_parameters(tmp_path: Path, param: str, value: int) -> None:
    """Parameters the model cannot take fail with a SpecError naming the
    file and the parameter."""
    text = "\n".join(line for line in VALID.splitlines() if not line.startswith(f"{param} ="))
    text = text.replace("[params]\n", f"[params]\n{param} = {value}\n")
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as err:
        load(str(path))
    msg = str(err.value)
    assert msg.startswith(f"{path}:{line_of(text, f'{param} = {value}')}:") and param in msg
    assert err.value.line == line_of(text, f"{param} = {value}")


def test_lines_follow_the_tables(tmp_path: Path) -> None:
    """An error is reported at the line of the entry in the table it belongs
    to, not at an earlier line of the same name in another table: an unknown
    parameter `depth` below [expect]'s depth, and a bad `depth` in [expect]
    below a [params] key named so in a comment-free inline table."""
    text = (
        VALID.replace("[params]\nunit_pages = 2\ncells_per_page = 2\nsizes = [1, 2]\n", "")
        + "\n[params]\nunit_pages = 2\ncells_per_page = 2\ndepth = 3\n"
    )
    with pytest.raises(SpecError) as err:
        load(str(write(tmp_path, text)))
    assert "unknown parameter 'depth'" in err.value.message
    assert err.value.line == len(text.splitlines()) != line_of(text, "depth = 6")
    text = 'name = "tmp"\nexpect = { depth = -6 }\n\n[params]\ndepth_of = 1\n'
    with pytest.raises(SpecError) as err:
        load(str(write(tmp_path, text.replace("depth_of = 1\n", ""))))
    assert err.value.line == 2
    text = VALID.replace("depth = 6", "depth = -6")
    text = text.replace("[params]\n", "[params]\nsizes_depth = 1\n")
    with pytest.raises(SpecError) as err:
        load(str(write(tmp_path, text)))
    assert err.value.line == line_of(text, "sizes_depth")  # the first error: its line


@pytest.mark.parametrize("header", ["[paramz]", "[params.extra]", "[[expect.runs]]"])
def test_bad_table_header_is_reported_at_its_line(tmp_path: Path, header: str) -> None:
    """A table header that names no table of a spec is reported at the
    header's own line (not line 1)."""
    text = VALID.replace("[switches]", f"{header}\nx = 1\n\n[switches]")
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as err:
        load(str(path))
    assert err.value.line == line_of(text, header) > 1, str(err.value)
    assert str(err.value).startswith(f"{path}:{err.value.line}: ")


def test_toml_error_in_a_table_header(tmp_path: Path) -> None:
    """A table header that is not TOML: the TOML parser's line, in the
    error's line too."""
    text = VALID.replace("[expect]", "[expect")
    with pytest.raises(SpecError) as err:
        load(str(write(tmp_path, text)))
    assert err.value.line == line_of(text, "[expect")


@pytest.mark.parametrize(
    "param, value",
    [
        ("nr_contexts", 100_000),
        ("nr_contexts", 19),
        ("nr_chunks", 40),
        ("live_per_context", 9),
        ("nr_contexts", 10**12),
    ],
)
def test_sizes_too_large_to_search(tmp_path: Path, param: str, value: int) -> None:
    """A geometry whose symmetries the compiled engine cannot write out is
    refused at once, at its line, with the reason."""
    text = VALID.replace("[params]\n", f"[params]\n{param} = {value}\n")
    with pytest.raises(SpecError) as err:
        load(str(write(tmp_path, text)))
    assert "too large to search" in err.value.message
    assert err.value.line in (line_of(text, f"{param} = "), line_of(text, "[params]"))


def test_unknown_spec_lists_the_available_ones() -> None:
    """An unknown spec name fails naming itself and every shipped spec."""
    with pytest.raises(SpecError) as err:
        load("no-such-spec")
    msg = str(err.value)
    assert "no-such-spec" in msg
    assert all(name in msg for name in available())


def test_missing_spec_file(tmp_path: Path) -> None:
    """A spec path that does not exist fails naming the path."""
    path = tmp_path / "missing.toml"
    with pytest.raises(SpecError) as err:
        load(str(path))
    assert str(path) in str(err.value)
