"""The block-hint placement (model/block_hints.py) against a line-by-line
transcription of mm/percpu.c (tests/kernel_bitmap.py), and what the hints
promise, after every step of random alloc/free histories.

Each test runs 100 histories a version here, to stay fast;
benchmarks/block_hints.py runs 10,000 and more (docs/benchmarks.md).
"""

from __future__ import annotations

import pytest
from hint_histories import (
    BLOCK_BITS,
    KERNELS,
    NR_BLOCKS,
    breaks,
    differential,
    model_version,
    run_model,
    violations,
)
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from percpu_mc.model import bitmap_chunk as bc
from percpu_mc.model import block_fit as bf

# One step: allocate (bits, log2 align), or free the i-th live area (mod count).
op = st.one_of(
    st.tuples(st.just("alloc"), st.integers(1, 2 * BLOCK_BITS), st.integers(0, 6)),
    st.tuples(st.just("free"), st.integers(0, 1 << 16), st.just(0)),
)
history = st.lists(op, min_size=1, max_size=40)


@pytest.mark.parametrize("name", list(KERNELS))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=history)
def test_model_matches_kernel_transcription(name: str, ops: list) -> None:
    differential(name, ops)


@pytest.mark.parametrize("name", ["v6.1", "v4.14"])
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=history)
def test_model_matches_kernel_transcription_at_the_kernels_block_size(name: str, ops: list) -> None:
    differential(name, ops, real=True)


# The promises each version keeps in every history benchmarks/block_hints.py
# tried (docs/benchmarks.md); the rest break, as the tests below show.
KEPT = {
    "v6.1": (
        "block-contig",
        "block-left",
        "block-first-free",
        "block-scan",
        "chunk-free",
        "chunk-first-free",
        "free-bytes",
    ),
    "v4.14+fixes": tuple(p for p in bf.PROMISES if p != "chunk-page"),
}


@pytest.mark.parametrize("name", list(KEPT))
@settings(max_examples=100, deadline=None)
@given(ops=history)
def test_hints_keep_their_promises(name: str, ops: list) -> None:
    run_model(name, ops, violations(KEPT[name]))


# Shortest histories found by benchmarks/block_hints.py --search (random
# histories, then one step dropped at a time while the promise still breaks).
BROKEN = {
    "v4.14": [("alloc", 1, 3), ("alloc", 8, 3), ("free", 375, 0), ("alloc", 30, 2)],
    "v4.14+fixes-but-free-region": [
        ("alloc", 4, 3),
        ("alloc", 30, 4),
        ("alloc", 8, 0),
        ("free", 615, 0),
        ("alloc", 4, 2),
        ("free", 29, 0),
        ("alloc", 1, 1),
        ("alloc", 1, 1),
        ("alloc", 8, 4),
        ("free", 146, 0),
        ("free", 533, 0),
    ],  # fmt: skip
    "v4.14+fixes-but-overlap": [
        ("alloc", 12, 2),
        ("alloc", 5, 1),
        ("alloc", 1, 3),
        ("free", 812, 0),
        ("alloc", 16, 0),
    ],  # fmt: skip
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_v4_14_chunk_hint_names_used_bits_before_the_fixes(name: str) -> None:
    """Before "percpu: update free path with correct new free region" the
    free path claims the block's contig_hint as the freed run; before
    "percpu: introduce helper to determine if two regions overlap" an area
    starting just before the chunk's hint does not refresh it.  Either way
    the chunk's hint names bits in use; with all three fixes it does not."""
    assert breaks(name, ("chunk-free",))(BROKEN[name])
    assert not breaks("v4.14+fixes", ("chunk-free",))(BROKEN[name])


def test_v6_1_chunk_hint_stale_after_a_free_outside_block_0() -> None:
    """v5.2..v6.1 hand a block offset as the end of a chunk offset region
    (pcpu_block_update_hint_free), so a free inside block 1+ never raises
    the chunk's contig_hint: the comment's accuracy promise breaks, and
    pcpu_find_block_fit() then refuses a request the block could hold."""
    ops = [("alloc", 8, 3), ("alloc", 16, 4), ("alloc", 20, 3), ("alloc", 2, 2)]
    ops += [("alloc", 2, 0), ("alloc", 8, 3), ("free", 17, 0)]
    assert breaks("v6.1", ("chunk-exact",))(ops)
    assert not breaks("v6.1+block-end-fix", ("chunk-exact",))(ops)
    found = find(
        history,
        breaks("v6.1", ("chunk-exact",)),
        settings=settings(max_examples=2000, phases=[Phase.generate], database=None),
    )
    assert breaks("v6.1", ("chunk-exact",))(found)


def test_v6_1_loses_right_free_when_a_scan_hint_at_the_block_end_is_promoted() -> None:
    """pcpu_block_refresh_hint() zeroes right_free, then promotes a
    scan_hint to contig_hint and scans only past it: when that scan_hint
    ends at the block's end (possible when it equals the contig_hint), the
    free run at the end is no longer right_free, and pcpu_next_fit_region()
    no longer sees runs crossing into the next block."""
    ops = [("alloc", 9, 0), ("alloc", 1, 2), ("alloc", 1, 0)]
    assert breaks("v6.1", ("block-right",))(ops)
    assert not breaks("v4.14+fixes", ("block-right",))(ops)


def test_v6_1_passes_over_a_chunk_that_fits() -> None:
    """The consequence: after the free below, block 1 holds a free run of 12
    bits but the chunk's hint says 4, so a 12-bit request is refused."""
    ops = [("alloc", 8, 3), ("alloc", 16, 4), ("alloc", 20, 3), ("alloc", 2, 2)]
    ops += [("alloc", 2, 0), ("alloc", 8, 3), ("free", 17, 0)]
    for name, refused in [("v6.1", True), ("v6.1+block-end-fix", False)]:
        chunk = bc.pcpu_alloc_chunk(model_version(name), BLOCK_BITS * NR_BLOCKS)
        live: list[int] = []
        for kind, a, b in ops:
            if kind == "alloc":
                live.append(bf.place(chunk, a, 1 << b))
            else:
                bf.pcpu_free_area(chunk, live.pop(a % len(live)))
        assert max(e - s for s, e in bf.free_runs(chunk, 0, chunk.map_bits)) >= 12
        assert (bf.pcpu_find_block_fit(chunk, 12, 1) < 0) == refused


def test_search_stays_in_the_bitmap_even_unbounded() -> None:
    """8c43004af016's unbounded scan: the hints' promise of a fit within
    alloc_bits + BLOCK_BITS keeps it inside the map in every history tried."""

    def inside(chunk: bc.Chunk) -> None:
        assert not chunk.read_past_end

    for ops in [[("alloc", 1, 0)] * 70, [("alloc", 20, 2), ("alloc", 30, 0)] * 3]:
        run_model("v4.14", ops, inside)
