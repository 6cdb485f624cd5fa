"""6.13's LOW check at area_found (Switches.low_check = "area-found";
"percpu: fix data race with pcpu_nr_empty_pop_pages", merged for 6.13).

Before it, pcpu_alloc() reads the counter after the population and
mutex_unlock(), with no lock held: `if (pcpu_nr_empty_pop_pages <
PCPU_EMPTY_POP_PAGES_LOW) pcpu_schedule_balance_work();` (the model's
`pcpu_alloc: counter` step).  From 6.13 the same test runs at area_found,
under pcpu_lock, right after pcpu_alloc_area() has taken the area's pages
off the counter and before the population:

    area_found:
        pcpu_stats_area_alloc(chunk, size);
        if (pcpu_nr_empty_pop_pages < PCPU_EMPTY_POP_PAGES_LOW)
                pcpu_schedule_balance_work();
        spin_unlock_irqrestore(&pcpu_lock, flags);

so it belongs to the scan step that finds the area, and the step after the
population only returns the area.
"""

from __future__ import annotations

from dataclasses import replace

from percpu_mc.model.actions.common import Action, Choices, Events, KernelBase, Step
from percpu_mc.model.ops import Ops
from percpu_mc.model.state import AllocPc, State, ite_state
from percpu_mc.model.vocabulary import Kind

# The steps whose pcpu_lock section is pcpu_alloc()'s scan, and where they
# leave a context that found an area (area_found).
SCAN_KINDS = frozenset({Kind.ALLOC, Kind.ALLOC_CREATE, Kind.ALLOC_RESTART})
AREA_FOUND_PCS = (AllocPc.POP_MUTEX, AllocPc.POPULATE, AllocPc.COUNTER)


class AreaFoundLowCheck(KernelBase):
    """The LOW check moved into the scan's pcpu_lock section."""

    def area_found_low_check(self, a: Action) -> Action:
        fn, i = a.fn, a.ctx
        if i is None:
            return a
        if a.kind in SCAN_KINDS:

            def scan(x: Ops, s: State, ch: Choices) -> Step:
                guard, post, ev = fn(x, s, ch)
                found = x.or_(*[x.eq(post.pc[i], int(pc)) for pc in AREA_FOUND_PCS])
                return guard, ite_state(x, found, self.low_check(x, post), post), ev

            return replace(a, fn=scan, kernel=a.kernel + "; area_found: the LOW check")
        if a.kind is Kind.ALLOC_COUNTER:

            def done(x: Ops, s: State, ch: Choices) -> Step:
                # the population done (and mutex_unlock()): return the area
                return True, self.finish(x, s, i), Events(alloc_step=True)

            return replace(a, fn=done, kernel="pcpu_alloc(): return the area (no lock)")
        return a
