"""pcpu_map_extend_workfn() (1a4d76076cda: one work item per chunk) and
percpu_enable_async(), the initcall that lets both kinds of work run."""

from __future__ import annotations

from typing import Any

from percpu_mc.model.actions.common import Action, Choices, Events, KernelBase, Step
from percpu_mc.model.geometry import need_to_extend
from percpu_mc.model.ops import Ops, store
from percpu_mc.model.state import State, upd
from percpu_mc.model.vocabulary import INIT, Kind, map_extend_work


class PcpuMapExtendWork(KernelBase):
    """The steps of each chunk's map extension work and of the initcall."""

    def map_extend_actions(self) -> list[Action]:
        g = self.g
        acts = []
        for c in self.normal_chunks():
            ctx = map_extend_work(c)

            def queued(x: Ops, s: State, c: int = c) -> Any:
                return x.and_(s.map_extend_pending[c], x.not_(s.ext_running[c]))

            def start(x: Ops, s: State, ch: Choices, c: int = c) -> Step:
                # the workqueue runs chunk->map_extend_work; pcpu_lock:
                # new_alloc = pcpu_need_to_extend(chunk, false).  No reference
                # on the chunk, no pcpu_alloc_mutex: CVE-2016-4794, first half.
                new = need_to_extend(x, g, s, c, False)
                return (
                    True,
                    upd(
                        s,
                        map_extend_pending=store(x, s.map_extend_pending, c, False),
                        ext_running=store(x, s.ext_running, c, x.not_(x.eq(new, 0))),
                        ext_new_alloc=store(x, s.ext_new_alloc, c, new),
                    ),
                    Events(),
                )

            def running(x: Ops, s: State, c: int = c) -> Any:
                return s.ext_running[c]

            def extend(x: Ops, s: State, ch: Choices, c: int = c) -> Step:
                # pcpu_extend_area_map(chunk, new_alloc): no lock, then pcpu_lock
                grown = self.extend_area_map(x, s, c, s.ext_new_alloc[c], x.eq(ch["fail"], 0))
                return True, upd(grown, ext_running=store(x, s.ext_running, c, False)), Events()

            acts += [
                Action(
                    name="pcpu_map_extend_workfn",
                    context=ctx,
                    kernel="pcpu_map_extend_workfn(): pcpu_lock: pcpu_need_to_extend()",
                    choices=(),
                    at=queued,
                    fn=start,
                    kind=Kind.MAP_EXTEND_START,
                ),
                Action(
                    name="pcpu_extend_area_map",
                    context=ctx,
                    kernel="pcpu_map_extend_workfn() -> pcpu_extend_area_map(): no mutex",
                    choices=("fail",),
                    at=running,
                    fn=extend,
                    kind=Kind.MAP_EXTEND,
                ),
            ]
        return acts

    def init_actions(self) -> list[Action]:
        def disabled(x: Ops, s: State) -> Any:
            return x.not_(s.pcpu_async_enabled)

        def enable(x: Ops, s: State, ch: Choices) -> Step:
            # subsys_initcall(percpu_enable_async)
            return True, upd(s, pcpu_async_enabled=True), Events()

        if not self.sw.async_gate:
            return []
        return [
            Action(
                name="percpu_enable_async",
                context=INIT,
                kernel="percpu_enable_async(): subsys_initcall",
                choices=(),
                at=disabled,
                fn=enable,
                kind=Kind.ENABLE_ASYNC,
            )
        ]
