"""One worker's share of the distributed search (checker/engines/distributed.py):
the `Part` actor holding its part of the visited set, its frontier and the
parents of the states it owns, and the messages of a level's two rounds."""

from __future__ import annotations

import time
from array import array
from dataclasses import dataclass
from typing import Any

from percpu_mc.checker.engines.native import Native
from percpu_mc.model.machine import Model
from percpu_mc.model.params import Params
from percpu_mc.model.properties import PROPERTIES

ROOT = 0xFFFF  # the operation recorded for the initial state
CHUNK_OUTPUTS = 1 << 18  # successors expanded per native call (bounds the buffers)


@dataclass(frozen=True)
class Task:
    """What a worker needs to build the same native module: picklable."""

    params: Params
    props: tuple[str, ...]
    depth: int
    reduce: bool


@dataclass
class Inserted:
    """A part's answer to one insert round."""

    fresh: int
    states: int
    bytes: int
    seconds: float
    # property index -> (least violating packed state, its position in the level)
    violations: dict[int, tuple[tuple[int, ...], int]]


@dataclass
class Expanded:
    """A part's answer to one expand round."""

    successors: int
    sent: list[int]  # successors sent to each part (its own included)
    expand_seconds: float
    exchange_seconds: float
    error: str = ""  # a successor left its packed range


def _array(code: str, data: bytes) -> array:
    a = array(code)
    a.frombytes(data)
    return a


def out_of_range(native: Native, words: bytes) -> str:
    """Which field of which successor of packed state `words` leaves its range."""
    lay = native.layout
    flat = lay.unpack(_array("Q", words))
    for _, _, t in native.model.successors(lay.state(flat)):
        for sl, v in zip(lay.slots, lay.flatten(t)):
            if not sl.admits(v):
                return sl.outside(v)
    return "a successor could not be packed"


class Part:
    """One worker's part of the search (a Dask actor)."""

    def __init__(self, task: Task, index: int, parts: int):
        self.native = Native.load(
            Model(task.params), [PROPERTIES[n] for n in task.props], task.depth
        )
        self.handle = self.native.lib.search_new()
        if self.handle == self.native.ffi.NULL:
            raise MemoryError("search_new")
        self.reduce = int(task.reduce)
        self.index, self.parts = index, parts
        self.row = 8 * self.native.layout.words
        self.peers: list[Any] = []
        self.inbox: list[tuple[int, int, bytes, bytes, bytes]] = []  # src, base, words, from, ops
        self.frontier = b""  # packed states of the current level's fresh states
        self.level_start: list[int] = []  # local index of each level's first fresh state
        self.parent_part = array("h")  # per local index: the parent's part (-1: the root)
        self.parent_pos = array("q")  # the parent's position in its level
        self.op = array("H")

    def connect(self, peers: list[Any]) -> int:
        self.peers = peers
        return len(peers)

    async def deliver(self, src: int, base: int, words: bytes, origin: bytes, ops: bytes) -> None:
        # a coroutine: it runs on the worker's event loop, so a delivery lands
        # even while this part's own expand round is busy in the actor thread
        self.inbox.append((src, base, words, origin, ops))

    def seed(self, words: bytes) -> None:
        self.inbox.append((-1, 0, words, array("q", [-1]).tobytes(), array("H", [ROOT]).tobytes()))

    def insert(self) -> Inserted:
        start = time.monotonic()
        ffi, lib = self.native.ffi, self.native.lib
        inbox = sorted(self.inbox, key=lambda m: (m[0], m[1]))
        self.inbox = []
        words = b"".join(m[2] for m in inbox)
        n = len(words) // self.row
        first = lib.search_size(self.handle)
        self.level_start.append(first)
        fresh = ffi.new("int64_t[]", max(1, n))
        if n and lib.batch_insert(self.handle, ffi.from_buffer("uint64_t[]", words), n, fresh) < 0:
            raise MemoryError(f"part {self.index}: out of memory after {first} states")
        got = _array("q", ffi.buffer(fresh, 8 * n)[:])
        keep: list[int] = []
        r0 = 0
        for src, base, _, origin_b, ops_b in inbox:
            origin, ops = _array("q", origin_b), _array("H", ops_b)
            # comprehensions over array slices: this loop is the per-state cost of a part
            new = [i for i, j in enumerate(got[r0 : r0 + len(ops)]) if j >= 0]
            self.parent_part.extend([src] * len(new))
            self.parent_pos.extend([base + origin[i] for i in new])
            self.op.extend([ops[i] for i in new])
            keep.extend([r0 + i for i in new])
            r0 += len(ops)
        # fresh states take consecutive local indices: position = index - level start
        assert not keep or got[keep[-1]] == first + len(keep) - 1
        row = self.row
        front = ffi.new("uint64_t[]", max(1, len(keep)) * self.native.layout.words)
        lib.batch_state(self.handle, first, len(keep), front)
        self.frontier = ffi.buffer(front, len(keep) * row)[:]
        violations: dict[int, tuple[tuple[int, ...], int]] = {}
        if keep:
            mask = ffi.new("uint64_t[]", len(keep))
            lib.batch_violations(ffi.from_buffer("uint64_t[]", self.frontier), len(keep), mask)
            masks = _array("Q", ffi.buffer(mask)[:])
            for pos in [i for i, m in enumerate(masks) if m]:
                w = tuple(_array("Q", self.frontier[pos * row : (pos + 1) * row]))
                for p in range(len(self.native.props)):
                    if masks[pos] >> p & 1 and (p not in violations or w < violations[p][0]):
                        violations[p] = (w, pos)
        return Inserted(
            len(keep),
            lib.search_size(self.handle),
            lib.search_bytes(self.handle),
            time.monotonic() - start,
            violations,
        )

    def expand(self) -> Expanded:
        ffi, lib = self.native.ffi, self.native.lib
        nw, row, nops = self.native.layout.words, self.row, len(self.native.ops)
        n = len(self.frontier) // row
        per = max(1, CHUNK_OUTPUTS // nops)  # states per native call: never fills the buffer
        cap = per * nops
        out, origin, ops = (
            ffi.new("uint64_t[]", cap * nw),
            ffi.new("int64_t[]", cap),
            ffi.new("uint16_t[]", cap),
        )
        r_out, r_origin, r_ops = (
            ffi.new("uint64_t[]", cap * nw),
            ffi.new("int64_t[]", cap),
            ffi.new("uint16_t[]", cap),
        )
        counts = ffi.new("int64_t[]", self.parts)
        frontier = ffi.from_buffer("uint64_t[]", self.frontier) if n else ffi.NULL
        sent = [0] * self.parts
        pending = []
        expand_s = exchange_s = 0.0
        for base in range(0, n, per):
            t0 = time.monotonic()
            m = min(per, n - base)
            k = lib.batch_expand(
                frontier + base * nw, m, self.reduce, self.native.keep_all, out, origin, ops, cap
            )
            if k < 0:
                bad = base - 1 - k
                return Expanded(
                    sum(sent),
                    sent,
                    expand_s,
                    exchange_s,
                    out_of_range(self.native, self.frontier[bad * row : (bad + 1) * row]),
                )
            lib.batch_route(out, origin, ops, k, self.parts, r_out, r_origin, r_ops, counts)
            t1 = time.monotonic()
            at = 0
            for j in range(self.parts):
                c = counts[j]
                if c:
                    msg = (
                        self.index,
                        base,
                        ffi.buffer(r_out + at * nw, c * row)[:],
                        ffi.buffer(r_origin + at, 8 * c)[:],
                        ffi.buffer(r_ops + at, 2 * c)[:],
                    )
                    if j == self.index:
                        self.inbox.append(msg)
                    else:
                        pending.append(self.peers[j].deliver(*msg))
                    sent[j] += c
                at += c
            expand_s += t1 - t0
            exchange_s += time.monotonic() - t1
        t0 = time.monotonic()
        for f in pending:
            f.result()
        exchange_s += time.monotonic() - t0
        return Expanded(sum(sent), sent, expand_s, exchange_s)

    def record(self, level: int, pos: int) -> tuple[tuple[int, ...], int, int]:
        """The packed state named (this part, level, pos), and its parent's
        part and position (in the level before)."""
        idx = self.level_start[level] + pos
        w = self.native.ffi.new("uint64_t[]", self.native.layout.words)
        self.native.lib.batch_state(self.handle, idx, 1, w)
        return tuple(w), self.parent_part[idx], self.parent_pos[idx]

    def close(self) -> None:
        self.native.lib.search_free(self.handle)
        self.handle = self.native.ffi.NULL
