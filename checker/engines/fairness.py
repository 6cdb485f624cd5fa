"""The rules a starvation lasso obeys (checker/engines/lasso.py), written
once against `Ops`: the explicit search evaluates them on the concrete
states of its graph, the BMC lasso on the symbolic states of its unrolling.

A loop starves atomic requests of `size` cells when, in the loop, such a
request fails, none succeeds, and a balance run completes; under the
fairness assumption (FAIRNESS) nothing in `waiting` waits through the whole
loop without taking a step, and no GFP_KERNEL allocation fails in it.
"""

from __future__ import annotations

from typing import Any

from percpu_mc.model.actions import Action
from percpu_mc.model.control import AllocPc, BalancePc
from percpu_mc.model.ops import Ops
from percpu_mc.model.params import Params
from percpu_mc.model.state import State
from percpu_mc.model.vocabulary import Kind

FAIRNESS = (
    "every queued work item (the balance work, map extension) and every allocation "
    "in progress eventually runs (weak fairness); in the loop no chunk creation, page "
    "population or map extension fails (nor does a creation for want of a chunk struct, "
    "the model's bound on memory)"
)


def requests(a: Action, ch: dict[str, int], size: int) -> bool:
    """The step starts an atomic, non-reserved pcpu_alloc() of `size` cells."""
    return a.kind is Kind.ALLOC and a.atomic and ch["size"] == size and ch["reserved"] == 0


def request_failed(x: Ops, post: State, ctx: int) -> Any:
    """After a step that `requests`: the call returned at once, so it failed
    (an atomic call that finds an area goes on to its counter update)."""
    return x.eq(post.pc[ctx], int(AllocPc.IDLE))


def run_ended(x: Ops, pre: State, post: State) -> Any:
    """The step completes a run of the balance work."""
    idle = int(BalancePc.IDLE)
    return x.and_(x.not_(x.eq(pre.balance_pc, idle)), x.eq(post.balance_pc, idle))


def gfp_failed(x: Ops, a: Action, ch: dict[str, int], post: State) -> Any:
    """A GFP_KERNEL allocation of the step failed: its `fail` choice, or a
    pcpu_create_chunk() that created nothing where it had to.  The model
    bounds the chunk structs, so a creation can also fail for want of one
    (the kernel's would allocate one, or fail as GFP_KERNEL memory): a
    failed creation either way.  A non-atomic pcpu_alloc() that goes on to
    its scan after it always finds a chunk, so ending the call there means
    the creation failed."""
    if ch.get("fail") == 1:
        return True
    if a.kind is Kind.ALLOC_CREATE:
        return x.eq(post.pc[a.ctx], int(AllocPc.IDLE))
    if a.kind is Kind.BALANCE_CREATE:
        return x.not_(x.eq(post.balance_pc, int(BalancePc.RETRY_POP)))
    return False


def waiting(x: Ops, p: Params, s: State) -> list[Any]:
    """What a weakly fair scheduler must not leave waiting forever, in this
    order: each allocation in progress (by context), the queued balance
    work, each chunk's queued or running map extension."""
    out = [x.not_(x.eq(s.pc[i], int(AllocPc.IDLE))) for i in range(p.nr_contexts)]
    out.append(x.and_(s.balance_pending, x.eq(s.balance_pc, int(BalancePc.IDLE))))
    if p.switches.map_extension == "work-item":
        out += [x.or_(s.map_extend_pending[c], s.ext_running[c]) for c in range(p.nr_chunks)]
    return out
