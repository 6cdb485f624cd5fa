"""The skew window's index (checker/logs/skew.py) against the scan it
replaced: for any pending lines, the explainer it finds by lookup is the
first line in the window that the scan over every pending line finds."""

from hypothesis import given, settings
from hypothesis import strategies as st

from percpu_mc.checker.logs.skew import SkewWindow
from percpu_mc.traces.events import (
    Event,
    PercpuAlloc,
    PercpuCreateChunk,
    PercpuDestroyChunk,
    PercpuFree,
)

WINDOW = 10


def explains(event: Event, later: Event) -> bool:
    """The scan's rule (trace_check.py before the index)."""
    if later.base_addr != event.base_addr:  # type: ignore[attr-defined]
        return False
    match event:
        case PercpuAlloc(off=off, size=size):
            return isinstance(later, PercpuCreateChunk) or (
                isinstance(later, PercpuFree) and off - size < later.off < off + size
            )
        case PercpuFree(off=off):
            return isinstance(later, PercpuAlloc) and later.off == off and later.size != 0
        case PercpuDestroyChunk():
            return isinstance(later, PercpuFree)
        case PercpuCreateChunk():
            return isinstance(later, PercpuDestroyChunk)
    return False


def make(line: int, kind: int, cpu: int, ts: int, base: int, off: int, size: int) -> Event:
    common = (line, "t", 1, None, cpu, None, str(ts), ts, "")
    if kind == 0:
        return PercpuAlloc(*common, None, False, False, size, 1, base, off, None, None, None)
    if kind == 1:
        return PercpuFree(*common, base, off, None)
    if kind == 2:
        return PercpuCreateChunk(*common, base)
    return PercpuDestroyChunk(*common, base)


events = st.lists(
    st.tuples(
        st.integers(0, 3),  # kind
        st.integers(0, 2),  # cpu
        st.integers(0, 4),  # timestamp step
        st.integers(0, 1),  # base
        st.integers(0, 6),  # off
        st.integers(0, 3),  # size
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(events, st.lists(st.booleans(), max_size=80))
def test_index_finds_what_the_scan_finds(spec: list, moves: list[bool]) -> None:
    window = SkewWindow(WINDOW)
    ts = 0
    lines = []
    for line, (kind, cpu, step, base, off, size) in enumerate(spec, 1):
        ts += step
        lines.append(make(line, kind, cpu, ts, base, off, size))
        window.append(lines[-1])
    moved: set[int] = set()
    for move in moves + [False] * (2 * len(lines)):
        if not window:
            break
        order = list(window)
        event = window.oldest()
        assert order[0] is event and len(order) == len(window)
        expected = next(
            (
                later
                for later in order[1:]
                if later.ts_ns - event.ts_ns <= WINDOW
                and later.cpu != event.cpu
                and id(later) not in moved
                and explains(event, later)
            ),
            None,
        )
        assert window.explainer(event) is expected
        if move and expected is not None:
            moved.update(id(e) for e in order[: order.index(expected) + 1] if e.cpu == expected.cpu)
            window.take_early(event, expected)
            early = [e for e in order[: order.index(expected) + 1] if e.cpu == expected.cpu]
            rest = [e for e in order if e not in early]
            assert list(window) == early + rest
        else:
            assert window.pop() is event
            moved.discard(id(event))
