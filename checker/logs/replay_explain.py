"""The message of a `nonconforming` finding: why no run of the model
explains a log line, step by step that could have printed it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from percpu_mc.checker.logs.replay_lines import Cand, Line, Succ
from percpu_mc.checker.state_text import describe, owner_name
from percpu_mc.model.actions import Action
from percpu_mc.model.control import MUTEX_FREE, AllocPc, BalancePc
from percpu_mc.model.machine import Model
from percpu_mc.model.params import Params
from percpu_mc.model.state import State
from percpu_mc.model.vocabulary import Kind, Role
from percpu_mc.traces.observe import FUNC, PROBE, Obs


class Replay(Protocol):
    """What the message reads of the replay (checker/logs/conformance.py's
    ModelReplay, which imports this module)."""

    p: Params
    model: Model
    cands: Iterable[Cand]

    def successors(self, s: State) -> list[Succ]: ...
    def shown(self, lines: tuple) -> tuple: ...
    def show(self, o: Obs, c: Cand) -> str: ...
    def mismatch(self, c: Cand, a: Action, o: Obs, ln: Line, post: State) -> str | None: ...
    def mismatch_pending(self, c: Cand, o: Obs, ln: Line) -> str | None: ...


def explain(replay: Replay, ln: Line, visited: list[Cand]) -> str:
    """Why no candidate explains `ln`: per step that could print such a
    line, why it did not (the `nonconforming` finding's message)."""
    actions = replay.model.actions
    reasons: dict[str, dict[str, None]] = {}
    pending = [c for c in replay.cands if c.pending]
    for c in pending[:50]:
        why = (
            replay.mismatch_pending(c, c.pending[0], ln)
            if c.pid == ln.pid
            else f"task pid {c.pid} would print {replay.show(c.pending[0], c)} first"
        )
        reasons.setdefault("the step in progress", {})[why or ""] = None
    relevant = [ai for ai, a in enumerate(actions) if may_print(a, ln.kind, ln.args[0])]
    for c in visited[:200]:
        enabled = {}
        for sc in replay.successors(c.state):
            lines = replay.shown(sc.lines)
            if lines:
                enabled.setdefault(sc.action, []).append((sc, lines))
        for ai in relevant:
            a = actions[ai]
            label = f"{a.name} ({a.context})"
            if ai not in enabled:
                reasons.setdefault(label, {})[not_enabled(replay.p, a, c.state)] = None
                continue
            for sc, lines in enabled[ai]:
                why = replay.mismatch(c, a, lines[0], ln, sc.post)
                if why is not None:
                    reasons.setdefault(label, {})[why] = None
    n = len(visited) + len(pending)
    head = (
        f"no run of the model explains this line: {n} candidate states after "
        f"unlogged steps (e.g. {describe(replay.p, (visited or pending)[0].state)})"
    )
    parts = []
    for label, whys in reasons.items():
        shown = list(whys)[:3]
        more = f" (+{len(whys) - 3} more)" if len(whys) > 3 else ""
        parts.append(f"{label}: {'; '.join(shown)}{more}")
    return head + ". Tried: " + " | ".join(parts) if parts else head


def may_print(a: Action, kind: str, name: str) -> bool:
    """Could action `a` print a line of this kind (a marker: of this
    function or probe name)? (for the explanation)"""
    log = a.kind.log
    if kind == FUNC:
        return log.call is not None and log.call[0] == name
    if kind == PROBE:
        return any(m == (name, "") for m in log.markers)
    return kind in log.tracepoints


def not_enabled(p: Params, a: Action, s: State) -> str:
    """Why `a` cannot run in `s`, in kernel terms."""
    who = a.context
    mutex = owner_name(p, s.alloc_mutex)
    if a.ctx is not None:
        pc = AllocPc(s.pc[a.ctx])
        if a.kind is Kind.FREE:
            return f"{who} holds no allocation"
        extra = f", pcpu_alloc_mutex held by {mutex}" if s.alloc_mutex != MUTEX_FREE else ""
        return f"not enabled: {who} is at {pc.name}{extra}"
    if who.role is Role.BALANCE:
        bpc = BalancePc(s.balance_pc)
        if bpc == BalancePc.MUTEX and s.alloc_mutex != MUTEX_FREE:
            return f"not enabled: the balance work waits for pcpu_alloc_mutex, held by {mutex}"
        if bpc == BalancePc.IDLE:
            return "not enabled: the balance work is not running" + (
                "" if s.balance_pending else " nor scheduled"
            )
        return f"not enabled: the balance work is at {bpc.name}"
    return "not enabled"
