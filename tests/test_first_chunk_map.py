"""The first chunk's area map is the static smap/dmap array: pcpu_setup_first_chunk()
sets `map_alloc = ARRAY_SIZE(smap)` = PERCPU_DYNAMIC_EARLY_SLOTS = 128 (3.18 to
4.13), so no allocation in it ever asks for map extension."""

from __future__ import annotations

import pytest

from percpu_mc.checker import specs
from percpu_mc.model.geometry import need_to_extend
from percpu_mc.model.machine import Model
from percpu_mc.model.ops import Concrete


@pytest.mark.parametrize("name", ["seed", "v4.13"])
def test_first_chunk_map_never_extends(name: str) -> None:
    model = Model(specs.load(name).params)
    x = Concrete()
    s0 = model.init()
    assert s0.map_alloc[0] == 128
    seen, frontier = {s0}, [s0]
    for _ in range(6):
        nxt = []
        for s in frontier:
            for atomic in (False, True):
                assert need_to_extend(x, model.kernel.g, s, 0, atomic) == 0
            assert not s.map_extend_pending[0] and not s.ext_running[0]
            for _, _, t in model.successors(s):
                if t not in seen:
                    seen.add(t)
                    nxt.append(t)
        frontier = nxt
