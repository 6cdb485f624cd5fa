"""Random alloc/free histories run through the block-hint model
(percpu_mc.model.block_hints) and the kernel transcription (kernel_bitmap),
shared by tests/test_block_hints.py and benchmarks/block_hints.py.

A history is a list of steps: ("alloc", bits, log2 align) or ("free", i, 0),
freeing the i-th live area (mod their count).
"""

from __future__ import annotations

from dataclasses import replace

import kernel_bitmap as k

from percpu_mc.model import bitmap_chunk as bc
from percpu_mc.model import block_fit as bf

# model version -> the transcription's switches
KERNELS = {
    "v6.1": dict(v52=True, fix_block_end=False),
    "v6.1+block-end-fix": dict(v52=True, fix_block_end=True),
    "v4.14": dict(v52=False, fix_free_region=False, fix_search_end=False, fix_overlap=False),
    "v4.14+fixes": dict(v52=False),
    "v4.14+fixes-but-free-region": dict(v52=False, fix_free_region=False),
    "v4.14+fixes-but-overlap": dict(v52=False, fix_overlap=False),
}
MODELS = {
    "v6.1": bc.V6_1,
    "v6.1+block-end-fix": bc.V6_1_FIXED,
    "v4.14": bc.V4_14,
    "v4.14+fixes": bc.V4_14_FIXED,
    "v4.14+fixes-but-free-region": replace(bc.V4_14_FIXED, free_region="block-contig-hint"),
    "v4.14+fixes-but-overlap": replace(bc.V4_14_FIXED, region_overlap=False),
}
BLOCK_BITS = 16
NR_BLOCKS = 4


def model_version(name: str, block_bits: int = BLOCK_BITS) -> bc.HintVersion:
    return replace(MODELS[name], block_bits=block_bits)


# The kernel's own block sizes: a page of 4-byte bits since v5.2, 1 KiB before.
REAL_GEOMETRY = {"v5.2": (1024, 4), "v4.14": (256, 8)}


def geometry(name: str, real: bool) -> tuple[int, int]:
    """(block bits, blocks) of the chunk a history runs on."""
    return REAL_GEOMETRY[MODELS[name].generation] if real else (BLOCK_BITS, NR_BLOCKS)


def run_model(name: str, ops: list, check=None) -> list:
    """Replay `ops` on the model; the offsets, and `check(chunk)` after each step."""
    version = model_version(name)
    chunk = bc.pcpu_alloc_chunk(version, BLOCK_BITS * NR_BLOCKS)
    live: list[int] = []
    out = []
    for kind, a, b in ops:
        if kind == "alloc":
            align = min(1 << b, 4 * BLOCK_BITS if version.generation == "v4.14" else BLOCK_BITS)
            off = bf.place(chunk, a, align)
            if off >= 0:
                live.append(off)
            out.append(off)
        elif live:
            out.append(bf.pcpu_free_area(chunk, live.pop(a % len(live))))
        if check is not None:
            check(chunk)
    return out


def snapshot_model(c: bc.Chunk) -> tuple:
    fields = ("scan_hint", "scan_hint_start", "contig_hint", "contig_hint_start")
    fields += ("left_free", "right_free", "first_free")
    blocks = tuple(tuple(getattr(b, f) for f in fields) for b in [*c.md_blocks, c.chunk_md])
    bits = tuple(int(c.alloc_map.test(i)) for i in range(c.map_bits))
    return blocks, bits, c.free_bytes, c.read_past_end


def snapshot_kernel(c: k.pcpu_chunk) -> tuple:
    fields = ("scan_hint", "scan_hint_start", "contig_hint", "contig_hint_start")
    fields += ("left_free", "right_free", "first_free")
    blocks = tuple(tuple(getattr(b, f) for f in fields) for b in [*c.md_blocks, c.chunk_md])
    return blocks, tuple(c.alloc_map), c.free_bytes, c.read_past


def differential(name: str, ops: list, real: bool = False) -> None:
    """Run `ops` on the model and the transcription side by side; with
    `real`, at the kernel's own block size (sizes and alignments of the
    history scaled up to it)."""
    bb, nr = geometry(name, real)
    scale = bb // BLOCK_BITS
    kc = k.new_chunk(BLOCK_BITS=bb, nr_blocks=nr, **KERNELS[name])
    version = model_version(name, bb)
    mc = bc.pcpu_alloc_chunk(version, bb * nr)
    live: list[int] = []
    for step, (kind, a, b) in enumerate(ops):
        if kind == "alloc":
            a = a * scale - (step % scale if scale > 1 else 0)  # not only multiples
            align = min(
                1 << (b * 2 if real else b), 4 * bb if version.generation == "v4.14" else bb
            )
            got, want = bf.place(mc, a, align), k.pcpu_alloc(kc, a, align)
            assert got == want, f"step {step}: alloc {a} align {align}: model {got}, kernel {want}"
            if got >= 0:
                live.append(got)
        elif live:
            off = live.pop(a % len(live))
            assert bf.pcpu_free_area(mc, off) == k.pcpu_free_area(kc, off)
        assert snapshot_model(mc) == snapshot_kernel(kc), f"step {step}: hints differ"


def violations(promises: tuple[str, ...]):
    """A check that fails when the chunk breaks one of `promises`."""

    def check(chunk: bc.Chunk) -> None:
        bad = [what for promise, what in bf.hint_violations(chunk) if promise in promises]
        assert not bad, bad

    return check


def breaks(name: str, promises: tuple[str, ...]):
    """Whether a history run on version `name` breaks one of `promises`."""

    def broken(ops: list) -> bool:
        try:
            run_model(name, ops, violations(promises))
        except AssertionError:
            return True
        return False

    return broken
