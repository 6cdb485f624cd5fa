"""The transition system: initial state, actions, and the history variables
the properties read."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Iterator

from percpu_mc.model.actions import Action, Choices, Events, Kernel
from percpu_mc.model.control import BalancePc
from percpu_mc.model.ops import Concrete, Ops
from percpu_mc.model.params import Params
from percpu_mc.model.state import State, initial_state, upd


@dataclass(frozen=True)
class TraceStep:
    action: int  # index into Model.actions
    choices: dict[str, int]  # only the action's own choices
    state: State  # the state after the step


@dataclass(frozen=True)
class Trace:
    """A run from the initial state (a counterexample: its last state violates
    the property)."""

    init: State
    steps: tuple[TraceStep, ...]


class Model:
    def __init__(self, p: Params):
        self.p = p
        self.kernel = Kernel(p)
        self.actions: list[Action] = self.kernel.actions()
        self.domains = self.kernel.domains()
        self.combos = [self.choice_combos(a) for a in self.actions]  # shared: never mutated

    def init(self) -> State:
        return initial_state(self.p)

    def step(self, x: Ops, s: State, a: Action, ch: Choices) -> tuple[Any, State]:
        """(enabled, successor) of action `a` with choices `ch` in state `s`.
        A concrete `at` that is False disables the step before its effect is
        built (an identity test: a symbolic guard is never the constant False)."""
        where = a.at(x, s)
        if where is False:
            return False, s
        guard, post, ev = a.fn(x, s, ch)
        return x.and_(where, guard), self.observe(x, s, post, ev, a)

    def choice_combos(self, a: Action) -> list[dict[str, int]]:
        """Every combination of the action's own choices."""
        return [
            dict(zip(a.choices, combo))
            for combo in itertools.product(*(self.domains[c] for c in a.choices))
        ]

    def successors(self, s: State) -> Iterator[tuple[int, dict[str, int], State]]:
        """(action index, its choices, successor) for every enabled step of the
        concrete interpretation: the one successor relation every explicit user
        of the model steps through."""
        x = Concrete()
        for ai, a in enumerate(self.actions):
            if a.at(x, s) is False:  # where the context is: no choice can enable it
                continue
            for ch in self.combos[ai]:
                enabled, t = self.step(x, s, a, ch)
                if enabled:
                    yield ai, ch, t

    def observe(self, x: Ops, pre: State, post: State, ev: Events, a: Action) -> State:
        """Update the history variables (they never influence an action).

        atomic-progress watches an atomic request of at most one page that
        failed once async work was enabled: armed (1) until the balance work
        next starts, in the run (2) until it completes, checked (3) in the
        state where it completed.  Any pcpu_alloc() step, or a failed
        creation or population, disarms it: the property promises nothing
        then.  refill_check marks the completion of a run that met neither.
        """
        idle = int(BalancePc.IDLE)
        started = x.and_(x.eq(pre.balance_pc, idle), x.not_(x.eq(post.balance_pc, idle)))
        ended = x.and_(x.not_(x.eq(pre.balance_pc, idle)), x.eq(post.balance_pc, idle))
        collected = x.and_(
            x.eq(pre.balance_pc, int(BalancePc.MUTEX)),
            x.not_(x.eq(post.balance_pc, int(BalancePc.MUTEX))),
        )
        enabled = pre.pcpu_async_enabled if self.p.switches.async_gate else True

        phase = x.ite(x.eq(pre.ap_phase, 3), 0, pre.ap_phase)
        size, align, memcg = pre.ap_size, pre.ap_align, pre.ap_memcg
        if ev.alloc_step:
            phase = 0
            i = a.ctx
            arm = x.and_(
                ev.atomic_fail, enabled, x.le(post.req_size[i], self.p.atomic_progress_cells)
            )
            phase = x.ite(arm, 1, phase)
            size = x.ite(arm, post.req_size[i], size)
            align = x.ite(arm, post.req_align[i], align)
            memcg = x.ite(arm, post.req_memcg[i], memcg)
        phase = x.ite(x.and_(x.eq(phase, 1), started), 2, phase)
        phase = x.ite(x.and_(x.eq(phase, 2), ev.env_fail), 0, phase)
        phase = x.ite(x.and_(x.eq(phase, 2), ended), 3, phase)

        clean = x.and_(x.or_(started, pre.run_clean), x.not_(ev.env_fail), not ev.alloc_step)
        return upd(
            post,
            ap_phase=phase,
            ap_size=size,
            ap_align=align,
            ap_memcg=memcg,
            run_clean=clean,
            refill_check=x.and_(ended, clean),
            after_collect=collected,
        )
