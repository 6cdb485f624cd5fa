"""The actions: one per lock-delimited step of the kernel code, by kernel
function family: `alloc` and `populate` (pcpu_alloc()), `free`
(free_percpu()), `balance`
(pcpu_balance_workfn()), `map_extend` (pcpu_map_extend_workfn(),
percpu_enable_async()); `common` holds what they share.

Each action is `guard, effect` on a State, written once against `Ops`.  Its
choices (request size, which chunk of a pcpu_slot[] list, whether a
GFP_KERNEL allocation fails) are inputs the checker explores.

Abstractions, and why they are sound for the properties:
* the order of chunks inside one pcpu_slot[] list is not modelled: where the
  kernel takes the first suitable chunk of the lowest slot, the model takes
  any suitable chunk of the lowest slot (a `chunk` choice);
* contig_hint is replaced by the exact largest free run (the hint is only an
  upper bound, used to skip chunks early): what the kernel's extra visits
  can and cannot do is argued at geometry.max_run_fits();
* consecutive empty slot scans of the balance work's phase 2 are one step,
  and a step that ends in `mutex_unlock` also releases the mutex: the
  interleavings lost commute with the merged step (nothing else touches what
  the merged step touches in between);
* an atomic pcpu_alloc() queues map extension for every chunk it reaches:
  where the kernel's list order would pass over chunks of the chosen chunk's
  slot, the model passes over every one it cannot use (a list order the
  kernel can have; more queued extensions only add balance runs);
* v5.14's balance work holds pcpu_lock across some of its steps
  (state.BALANCE_LOCKED_PCS); there the allocating contexts' steps wait,
  which is the kernel's lock, not an abstraction;
* the lock-order variants' contexts outside mm/percpu.c (a lock held around
  one pcpu_alloc() call, schedule_work()'s wakeup, direct reclaim into a
  filesystem) are modelled only as far as a wait-for cycle needs
  (model/actions/outside.py);
* slot-0 demotion (PCPU_SLOT_FAIL_THRESHOLD) is a choice of each scan that
  passes over chunks it fails on (model/actions/demotion.py);
* the reserved chunk's map is the first chunk's static smap[] of
  PERCPU_DYNAMIC_EARLY_SLOTS entries, which no scaled geometry fills: its
  extension is never needed, so it is not modelled.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from percpu_mc.model.actions.alloc import PcpuAlloc
from percpu_mc.model.actions.balance import PcpuBalanceWork
from percpu_mc.model.actions.common import Action, Choices, Events, Step
from percpu_mc.model.actions.demotion import SlotFailDemotion
from percpu_mc.model.actions.free import FreePercpu
from percpu_mc.model.actions.map_extend import PcpuMapExtendWork
from percpu_mc.model.actions.outside import OutsideLocks
from percpu_mc.model.ops import Ops
from percpu_mc.model.state import State
from percpu_mc.model.vocabulary import Role

__all__ = ["Action", "Choices", "Events", "Kernel", "Step"]


class Kernel(
    PcpuAlloc, FreePercpu, PcpuBalanceWork, PcpuMapExtendWork, SlotFailDemotion, OutsideLocks
):
    """The actions of one spec: parameters and switches bound."""

    def actions(self) -> list[Action]:
        acts = self.init_actions()
        for i in range(self.p.nr_contexts):
            acts += self.alloc_actions(i) + self.free_actions(i)
        if self.sw.balance_lock == "held":
            acts = [self.outside_balance_lock(a) for a in acts]
        acts += self.balance_actions()
        if self.sw.map_extension == "work-item":
            acts += self.map_extend_actions()
        if self.sw.slot_fail_demotion:
            acts = [self.demotion(a) for a in acts]
        if self.sw.outside_lock != "none":
            acts = [self.lock_order(a) for a in acts] + self.outside_actions()
        return acts

    def outside_balance_lock(self, a: Action) -> Action:
        """An allocating context's step takes pcpu_lock (each has one
        pcpu_lock section; the lock-free code before it commutes with the
        balance work, which holds pcpu_alloc_mutex): it waits while the
        balance work holds the lock between its steps."""
        if a.context.role is not Role.ALLOC:
            return a
        at = a.at

        def waits(x: Ops, s: State) -> Any:
            return x.and_(at(x, s), x.not_(self.balance_holds_lock(x, s)))

        return replace(a, at=waits)
