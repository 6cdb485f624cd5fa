"""Action coverage, as TLC reports coverage and SPIN unreached code: over
the states an explicit search expands (to a depth, or all of them), how
many enable each action of the spec and how often it was taken.

An action is named by its metadata, not by its display name: its kind
(model/vocabulary.py's `Kind`, the kernel function and step) and, for
pcpu_alloc(), whether the request is atomic; the allocating contexts'
copies of one action are one action.  An action whose choices include one
that selects a kernel code path (`PATHS`: a failure path, the reserved
chunk's) is also reported per path, `<action>:<path>`.  A design never
exercised is not verified: an action or path never taken is named, and a
spec lists under `[expect] unreached` the ones its geometry leaves
unreached, each with why.

The search is the compiled engine's (search.c's coverage counters), over
kernel states (no history variable: none influences a step) reduced by the
symmetry of contexts and chunk structs, so the counts are of
representative states; without a C compiler the same search runs on the
concrete interpretation (no reduction: larger counts, the same actions
and paths reached).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from percpu_mc.checker.engines.build import CompilerMissing
from percpu_mc.checker.engines.native import Native
from percpu_mc.checker.result import UNWATCHED, Watch
from percpu_mc.model.actions import Action
from percpu_mc.model.machine import Model
from percpu_mc.model.reduction import canonical
from percpu_mc.model.state import State

# Choices that select a kernel code path, with the name of each value's path
# (the other choices pick data: a size, a chunk, an allocation).
PATHS: dict[str, dict[int, str]] = {
    "fail": {0: "succeeds", 1: "fails"},  # memory pressure: the failure path
    "reserved": {0: "normal", 1: "reserved"},  # pcpu_alloc()'s reserved-chunk path
    "memcg": {0: "root", 1: "memcg"},  # 3c7be18ac9a0: pcpu_chunk_list(type) of the request's type
}


def action_name(a: Action) -> str:
    """The action's name in coverage reports and in `[expect] unreached`."""
    return a.kind.name.lower().replace("_", "-") + ("-atomic" if a.atomic else "")


def path_name(model: Model, a: Action, choices: dict[str, int]) -> str | None:
    """`<action>:<path>` of a step with these choices, or None where the
    action has one path only at this geometry."""
    split = [c for c in a.choices if c in PATHS and len(model.domains[c]) > 1]
    if not split:
        return None
    return action_name(a) + ":" + ",".join(PATHS[c][choices[c]] for c in split)


def names(model: Model) -> set[str]:
    """Every action and path name of the model."""
    out: set[str] = set()
    for ai, a in enumerate(model.actions):
        out.add(action_name(a))
        for ch in model.combos[ai]:
            if (p := path_name(model, a, ch)) is not None:
                out.add(p)
    return out


@dataclass(frozen=True)
class Count:
    name: str
    enabled: int  # expanded states in which some step of it is enabled
    taken: int  # steps of it taken from expanded states


@dataclass(frozen=True)
class ActionCount(Count):
    shown: str  # the display name (one of its contexts)
    paths: tuple[Count, ...] = ()


@dataclass(frozen=True)
class Coverage:
    depth: int  # levels expanded
    exhaustive: bool  # every reachable state expanded
    states: int  # states expanded
    engine: str
    actions: tuple[ActionCount, ...]

    def unreached(self) -> list[str]:
        """Actions never taken, then the paths never taken of actions taken."""
        out = [a.name for a in self.actions if a.taken == 0]
        out += [p.name for a in self.actions if a.taken for p in a.paths if p.taken == 0]
        return out

    def doc(self, allowed: dict[str, str]) -> dict[str, Any]:
        """The `coverage` object of check-model --json; `allowed`: the
        spec's expect.unreached (name -> why)."""
        unreached = self.unreached()
        return {
            "engine": self.engine,
            "depth": self.depth,
            "exhaustive": self.exhaustive,
            "states": self.states,
            "actions": [
                {
                    "action": a.name,
                    "name": a.shown,
                    "enabled": a.enabled,
                    "taken": a.taken,
                    **(
                        {
                            "paths": [
                                {"path": p.name, "enabled": p.enabled, "taken": p.taken}
                                for p in a.paths
                            ]
                        }
                        if a.paths
                        else {}
                    ),
                }
                for a in self.actions
            ],
            "unreached": [
                {"action": n, **({"why": allowed[n]} if n in allowed else {})} for n in unreached
            ],
            "unexpected_unreached": [n for n in unreached if n not in allowed],
        }


class Groups:
    """Each step (action index, choices) in two groups: its action's and
    its path's (an action with one path has a group of its own there, not
    reported)."""

    def __init__(self, model: Model):
        self.model = model
        self.names: list[str] = []  # group -> name
        self.index: dict[str, int] = {}
        self.shown: dict[str, str] = {}
        self.paths: dict[str, list[str]] = {}  # action -> its path names
        for ai, a in enumerate(model.actions):
            name = action_name(a)
            self.shown.setdefault(name, a.name)
            self.group(name)
            for ch in model.combos[ai]:
                p = path_name(model, a, ch)
                if p is not None and p not in self.paths.setdefault(name, []):
                    self.paths[name].append(p)
        for ai in range(len(model.actions)):  # every group numbered before any count
            for ch in model.combos[ai]:
                self.of(ai, ch)

    def group(self, name: str) -> int:
        if name not in self.index:
            self.index[name] = len(self.names)
            self.names.append(name)
        return self.index[name]

    def of(self, ai: int, ch: dict[str, int]) -> tuple[int, int]:
        a = self.model.actions[ai]
        p = path_name(self.model, a, ch)
        return self.group(action_name(a)), self.group(p or f"{ai}:{sorted(ch.items())}")

    def coverage(
        self, enabled: list[int], taken: list[int], depth: int, exhaustive: bool, states: int
    ) -> Coverage:
        actions = []
        for name, shown in self.shown.items():
            g = self.index[name]
            paths = tuple(
                Count(p, enabled[self.index[p]], taken[self.index[p]])
                for p in self.paths.get(name, [])
            )
            actions.append(ActionCount(name, enabled[g], taken[g], shown, paths))
        return Coverage(depth, exhaustive, states, "", tuple(actions))


def cover(model: Model, depth: int, watch: Watch = UNWATCHED) -> Coverage:
    """Coverage of the search to `depth` steps: compiled where a C compiler
    is, else on the concrete interpretation."""
    groups = Groups(model)
    try:
        native = Native.load(model, [], depth)
    except CompilerMissing:
        return _cover_python(model, groups, depth, watch)
    return _cover_compiled(model, native, groups, depth, watch)


def _cover_compiled(
    model: Model, native: Native, groups: Groups, depth: int, watch: Watch
) -> Coverage:
    from percpu_mc.checker.engines.compiled import ERRORS, SearchError

    ffi, lib = native.ffi, native.lib
    pairs = [groups.of(op.action, op.choices) for op in native.ops]
    ngroups = len(groups.names)
    group = ffi.new("int32_t[]", [g for pair in pairs for g in pair])
    enabled = ffi.new("int64_t[]", ngroups)
    taken_ops = ffi.new("int64_t[]", len(native.ops))
    handle = lib.search_new()
    if handle == ffi.NULL or not lib.search_cover(handle, group, ngroups, enabled, taken_ops):
        lib.search_free(handle)
        raise SearchError("out of memory")
    try:
        r = ffi.new("result_t *")
        stored = {0: 1}  # levels -> the states stored through that level

        @ffi.callback("int(int, int64_t, int64_t)")
        def report(d: int, states: int, held: int) -> int:
            if d == r.depth:  # the end of a level
                stored[d] = states
            watch.show(f"coverage: depth {min(d + (d == r.depth), depth)}/{depth}", states)
            return 1 if watch.stopped() else 0

        init = ffi.new("int64_t[]", native.layout.flatten(model.init()))
        lib.search_run(handle, init, depth, 1, 2**32 - 2, 0, 0, report, r)
        if r.error == 1:
            raise SearchError(native.layout.slots[r.error_field].outside(r.error_value))
        if r.error:
            raise SearchError(ERRORS[r.error] + f" after {r.states} states")
        taken = [0] * ngroups
        for o, (ga, gp) in enumerate(pairs):
            taken[ga] += taken_ops[o]
            taken[gp] += taken_ops[o]
        # levels 0 .. depth - 1 expanded, or every state when exhausted
        expanded = r.states if r.exhaustive else stored.get(r.depth - 1, 0)
        cov = groups.coverage(list(enabled), taken, r.depth, bool(r.exhaustive), expanded)
        return Coverage(cov.depth, cov.exhaustive, cov.states, "explicit", cov.actions)
    finally:
        lib.search_free(handle)


def _cover_python(model: Model, groups: Groups, depth: int, watch: Watch) -> Coverage:
    """The same counts on the concrete interpretation (no compiler)."""
    n = len(groups.names)
    enabled, taken = [0] * n, [0] * n
    s0 = canonical(model.init())
    seen: set[State] = {s0}
    frontier: deque[State] = deque([s0])
    d, expanded = 0, 0
    while frontier and d < depth and not watch.stopped():
        d += 1
        nxt: deque[State] = deque()
        for s in frontier:
            expanded += 1
            hit: set[int] = set()
            for ai, ch, t in model.successors(s):
                for g in groups.of(ai, ch):
                    taken[g] += 1
                    hit.add(g)
                if (c := canonical(t)) not in seen:
                    seen.add(c)
                    nxt.append(c)
            for g in hit:
                enabled[g] += 1
        frontier = nxt
    cov = groups.coverage(enabled, taken, d, not frontier, expanded)
    return Coverage(cov.depth, cov.exhaustive, cov.states, "explicit-python", cov.actions)
