"""The compiled interpretation (checker/engines/native.py) against the
concrete one, and the compiled search against the pure-Python search.

As tests/test_differential.py does for Z3: on random reachable and
arbitrary states, every action with every choice combination gives the same
enabledness and successor, and every property the same value, natively and
in Python.  The symmetry reduction is checked twice: the successors of a
permuted state are the permuted successors (so one representative per class
is enough), and the reduced search gives the unreduced verdicts and
shortest lengths."""

from __future__ import annotations

import json
from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import STATES, VARIANTS, WALKS, arbitrary_states, reachable_states

from percpu_mc.checker import specs
from percpu_mc.checker.cli.check_model import main
from percpu_mc.checker.engines.bmc import BMCEngine
from percpu_mc.checker.engines.codegen import Generator
from percpu_mc.checker.engines.compiled import CompiledEngine
from percpu_mc.checker.engines.explicit import ExplicitEngine
from percpu_mc.checker.engines.native import Native
from percpu_mc.checker.engines.symmetry import moves as symmetry_moves
from percpu_mc.checker.engines.symmetry import symmetries
from percpu_mc.checker.result import Holds, Violated
from percpu_mc.model.machine import Model
from percpu_mc.model.ops import Concrete
from percpu_mc.model.properties import PROPERTIES
from percpu_mc.model.state import State

PROPS = list(PROPERTIES.values())


@cache
def native(variant: str) -> Native:
    return Native.load(Model(VARIANTS[variant]), PROPS, 20)


def assert_agree(variant: str, s: State) -> int:
    nat = native(variant)
    m = nat.model
    compiled = [((op.action, op.choices), t) for op, t in nat.successors(s)]
    concrete = [((ai, ch), t) for ai, ch, t in m.successors(s)]
    assert [k for k, _ in compiled] == [k for k, _ in concrete], f"{variant}: enabled steps in {s}"
    for (key, t_c), (_, t_p) in zip(compiled, concrete):
        assert t_c == t_p, f"{variant}: successor of {m.actions[key[0]].name} {key[1]} in {s}"
    x = Concrete()
    assert nat.holds(s) == [bool(p.holds(x, m.kernel, s)) for p in PROPS], f"{variant}: {s}"
    return len(compiled)


@WALKS
@given(data=st.data())
@pytest.mark.parametrize("variant", VARIANTS)
def test_agree_on_reachable_states(variant: str, data: st.DataObject) -> None:
    for s in data.draw(reachable_states(variant)):
        assert_agree(variant, s)


@STATES
@given(data=st.data())
@pytest.mark.parametrize("variant", VARIANTS)
def test_agree_on_arbitrary_states(variant: str, data: st.DataObject) -> None:
    assert_agree(variant, data.draw(arbitrary_states(variant)))


@WALKS
@given(data=st.data())
@pytest.mark.parametrize("variant", VARIANTS)
def test_stored_states_unpack_to_themselves(variant: str, data: st.DataObject) -> None:
    """A reachable state packed (unreduced, every history variable kept),
    stored in its layout's bytes and read back is itself, field for field,
    both in C (search_state) and by Layout.unpack; no bit lies past the
    layout's, so the bytes stored lose none."""
    nat = native(variant)
    ffi, lib, lay = nat.ffi, nat.lib, nat.layout
    handle = lib.search_new()
    try:
        for s in data.draw(reachable_states(variant)):
            flat = lay.flatten(s)
            w = ffi.new("uint64_t[]", lay.words)
            assert lib.batch_pack(ffi.new("int64_t[]", flat), 0, nat.keep_every, w) == 0
            assert (
                int.from_bytes(b"".join(x.to_bytes(8, "little") for x in w), "little") >> lay.bits
                == 0
            )
            assert lay.unpack(w) == flat
            fresh = ffi.new("int64_t[1]")
            assert lib.batch_insert(handle, w, 1, fresh) == 0
            if fresh[0] >= 0:  # else a state of the walk seen before
                back = ffi.new("int64_t[]", len(flat))
                lib.search_state(handle, fresh[0], back)
                assert list(back) == flat
    finally:
        lib.search_free(handle)


def test_some_field_straddles_two_words() -> None:
    """The layouts the round trip above runs on have fields across a word
    boundary, so it reaches that code."""
    assert any(
        sl.bits and sl.offset // 64 != (sl.offset + sl.bits - 1) // 64
        for v in VARIANTS
        for sl in native(v).layout.slots
    )


def test_comparison_is_not_vacuous() -> None:
    """The initial state has enabled steps, so the comparison compares something."""
    assert assert_agree("v4.13", Model(VARIANTS["v4.13"]).init()) > 0


def permute(nat: Native, s: State, moves: list[tuple[int, dict[int, int]]]) -> State:
    """`s` under one symmetry, as canon_pack() permutes it."""
    flat = nat.layout.flatten(s)
    return nat.layout.state([rename.get(flat[src], flat[src]) for src, rename in moves])


@WALKS
@given(data=st.data())
@pytest.mark.parametrize("variant", ["v4.13", "seed", "reserved"])
def test_successors_commute_with_symmetries(variant: str, data: st.DataObject) -> None:
    """The classes of succ(pi(s)) are the classes of succ(s) for every
    symmetry pi, so the successors of one representative stand for those of
    the whole class and storing one state per class loses no behaviour; and
    every property is invariant under pi.  (Not succ(pi(s)) = pi(succ(s))
    state for state: pcpu_create_chunk() takes the lowest free struct, so the
    two create different, symmetric, structs.)"""
    nat = native(variant)
    m = nat.model
    layout = Generator(m, PROPS, 20).layout
    x = Concrete()
    for s in data.draw(reachable_states(variant)):
        for sym in symmetries(m):
            moves = symmetry_moves(m, layout, sym)
            ps = permute(nat, s, moves)
            mine = {nat.canonical(t) for _, _, t in m.successors(s)}
            theirs = {nat.canonical(t) for _, _, t in m.successors(ps)}
            assert mine == theirs, f"{variant}: {sym} on {s}"
            for p in PROPS:
                assert bool(p.holds(x, m.kernel, s)) == bool(p.holds(x, m.kernel, ps)), p.name


@pytest.mark.parametrize(
    "name,depth",
    [("seed", 7), ("v4.13", 8), ("v5.14", 5), ("pre-async-starve", 15), ("v4.13-straddle", 9)],
)
def test_compiled_search_agrees_with_python_search(name: str, depth: int) -> None:
    m = Model(specs.load(name).params)
    python, py_stats = ExplicitEngine(m, PROPS).run(depth)
    plain, plain_stats = CompiledEngine(m, PROPS, reduce=False).run(depth)
    reduced, red_stats = CompiledEngine(m, PROPS, reduce=True).run(depth)

    def key(results: list) -> list:
        return [(r.prop, r.verdict, r.depth, getattr(r, "exhaustive", False)) for r in results]

    assert key(plain) == key(python)
    assert key(reduced) == key(python)
    assert plain_stats.states == py_stats.states  # the same graph, state for state
    assert red_stats.states < plain_stats.states
    x = Concrete()
    for r in reduced:
        if isinstance(r, Violated):  # a run of the model itself, ending in a violation
            s = r.trace.init
            for st_ in r.trace.steps:
                assert st_.state in {t for _, _, t in m.successors(s)}
                s = st_.state
            assert not PROPERTIES[r.prop].holds(x, m.kernel, s)


@pytest.mark.parametrize(
    "names",
    [["atomic-progress"], ["refill"], ["chunk-lifecycle"], ["no-deadlock", "counter-exact"]],
)
def test_history_cone_keeps_the_verdicts(names: list[str]) -> None:
    """Searching some properties forgets the history variables none of them
    reads (codegen.py, Generator.cone): the verdicts, shortest lengths and
    vacuity of the search of them all (which the test above holds to the
    pure-Python search), on no more states, and on fewer when no history
    variable is read."""
    m = Model(specs.load("pre-async-starve").params)

    def key(results: list) -> dict:
        return {
            r.prop: (
                r.verdict,
                r.depth,
                getattr(r, "exhaustive", False),
                getattr(r, "vacuous", None),
            )
            for r in results
        }

    every, every_stats = CompiledEngine(m, PROPS).run(15)
    some, some_stats = CompiledEngine(m, [PROPERTIES[n] for n in names]).run(15)
    assert key(some) == {n: key(every)[n] for n in names}
    assert some_stats.states <= every_stats.states
    if "no-deadlock" in names:  # reads kernel state only
        assert some_stats.states < every_stats.states


def test_exhaustive_search_of_the_peer_geometry() -> None:
    """v4.13 at the SPIN peer's geometry: the whole state space, every property holding."""
    m = Model(specs.load("v4.13-spin").params)
    results, stats = CompiledEngine(m, PROPS).run(1000)
    assert all(isinstance(r, Holds) and r.exhaustive for r in results)
    # what the largest search held at its end (state arrays with their spare
    # capacity, parents, hash table), per state it stored: under 64 bytes
    assert stats.largest > 40_000 and stats.bytes / stats.largest < 64


def test_properties_are_searched_apart_by_history() -> None:
    """With split, one search per distinct history cone, each property in
    exactly one, with the kernel-only properties in the smallest; without,
    one search of the history any property reads; the unreduced search is
    one search of every history variable."""
    m = Model(specs.load("v4.13").params)
    premised = [p for p in PROPS if p.premise is not None]
    nat = Native.load(m, PROPS + [p.premise_reached() for p in premised], 8)
    groups = CompiledEngine(m, PROPS, split=True).groups(nat, premised)
    checks = sorted(i for g in groups for i in g.checks)
    assert checks == list(range(len(nat.props)))
    sizes = [g.keep.bit_count() for g in groups]
    assert sizes == sorted(sizes) and len({g.keep for g in groups}) == len(groups)
    assert all(g.keep for g in groups) and len(groups) > 1
    kernel = [k for k, p in enumerate(PROPS) if p.name == "no-deadlock"]
    assert set(kernel) <= set(groups[0].checks)
    [product] = CompiledEngine(m, PROPS).groups(nat, premised)
    assert product.keep == nat.keep_all and len(product.checks) == len(nat.props)
    [every] = CompiledEngine(m, PROPS, reduce=False, split=True).groups(nat, premised)
    assert every.keep == nat.keep_every and len(every.checks) == len(nat.props)


@pytest.mark.parametrize("name,depth", [("pre-async-starve", 15), ("v4.13", 9)])
def test_split_searches_keep_the_verdicts(name: str, depth: int) -> None:
    """The properties searched apart give the verdicts, lengths, exhaustion
    and vacuity of the one search, and the largest search stores no more
    than the one does."""
    m = Model(specs.load(name).params)
    one, one_stats = CompiledEngine(m, PROPS).run(depth)
    apart, apart_stats = CompiledEngine(m, PROPS, split=True).run(depth)

    def key(results: list) -> list:
        return [
            (
                r.prop,
                r.verdict,
                r.depth,
                getattr(r, "exhaustive", False),
                getattr(r, "vacuous", None),
            )
            for r in results
        ]

    assert key(apart) == key(one)
    assert apart_stats.searches > 1 and one_stats.searches == 1
    assert apart_stats.largest <= one_stats.states


@pytest.mark.parametrize("engine", ["portfolio", "explicit"])
def test_portfolio_and_explicit_agree_with_bmc(
    engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each verdict names its engine, and agrees with BMC alone in verdict and length."""
    assert main(["--spec", "seed", "--depth", "6", "--engine", engine, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    m = Model(specs.load("seed").params)
    bmc, _ = BMCEngine(m, PROPS).run(6)
    assert [(r["property"], r["verdict"], r["depth"]) for r in doc["results"]] == [
        (r.prop, r.verdict, r.depth) for r in bmc
    ]
    assert all(r["engine"] in ("explicit", "bmc") for r in doc["results"])


def test_split_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    """`--split` runs one search per history cone with the verdicts of one
    search, the JSON naming the searches and the largest; with another
    engine it is a usage error (exit 2, one line)."""
    args = ["--spec", "v4.13", "--depth", "9", "--engine", "explicit", "--json"]
    assert main(args) == 0  # v4.13's first violation takes 12 steps
    one = json.loads(capsys.readouterr().out)
    assert main([*args, "--split"]) == 0
    apart = json.loads(capsys.readouterr().out)

    def verdicts(doc: dict) -> list:
        return [(r["property"], r["verdict"], r["depth"]) for r in doc["results"]]

    assert verdicts(apart) == verdicts(one)
    assert one["searches"] == 1 and one["largest_search_states"] == one["states"]
    assert apart["searches"] > 1 and apart["largest_search_states"] < apart["states"]
    assert main(["--spec", "v4.13", "--depth", "3", "--engine", "bmc", "--split"]) == 2
    err = capsys.readouterr().err
    assert "--split" in err and err.count("\n") == 1 and "Traceback" not in err
