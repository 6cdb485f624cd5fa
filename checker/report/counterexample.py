"""Counterexamples in kernel terms: each step's context, code path and the
state it changes (chunk maps, populated pages, counter, locks, work items)."""

from __future__ import annotations

import textwrap
from typing import Any

from percpu_mc.checker.report.kernel_words import ALLOC_AT, BALANCE_AT, FUNCTION, failure
from percpu_mc.checker.state_text import cell_map, chunk_role, owner_name, page_map
from percpu_mc.model.control import ALLOC_CHUNK_PCS, AllocPc, BalancePc
from percpu_mc.model.machine import Model, Trace, TraceStep
from percpu_mc.model.params import Params
from percpu_mc.model.state import State
from percpu_mc.model.vocabulary import Kind, alloc_context


def state_dict(p: Params, s: State) -> dict[str, Any]:
    """The state as JSON: what a user of the checker reads."""
    chunks = []
    for c in range(p.nr_chunks):
        if not s.live[c]:
            continue
        chunks.append(
            {
                "chunk": c,
                "role": chunk_role(p, c),
                "linked": s.linked[c],
                "to_free": s.to_free[c],
                "map": cell_map(p, s.alloc_map[c], s.bound_map[c]),
                "populated": page_map(p, s.populated[c]),
                "map_alloc": s.map_alloc[c],
                "map_extend_pending": s.map_extend_pending[c],
                "map_extend_running": s.ext_running[c],
            }
        )
    ctxs = []
    for i in range(p.nr_contexts):
        pc = AllocPc(s.pc[i])
        d: dict[str, Any] = {"context": alloc_context(i).label, "pc": pc.name}
        if pc != AllocPc.IDLE:
            d.update(
                size=s.req_size[i],
                align=s.req_align[i],
                atomic=s.req_atomic[i],
                reserved=s.req_reserved[i],
            )
        if pc in ALLOC_CHUNK_PCS:
            d.update(chunk=s.chunk[i], off=s.off[i], occ_pages=s.occ[i])
        if pc == AllocPc.COUNTER_STORE:
            d["loaded_counter_minus_occ"] = s.counter_reg[i]
        lp = p.live_per_context
        d["holds"] = [
            {"chunk": s.live_chunk[k], "off": s.live_off[k], "size": s.live_size[k]}
            for k in range(i * lp, (i + 1) * lp)
            if s.live_valid[k]
        ]
        ctxs.append(d)
    bpc = BalancePc(s.balance_pc)
    balance: dict[str, Any] = {"pending": s.balance_pending, "pc": bpc.name}
    if bpc in (BalancePc.PICK, BalancePc.POP, BalancePc.CREATE):
        balance.update(nr_to_pop=s.nr_to_pop)
    if bpc in (BalancePc.POP, BalancePc.EXT):
        balance.update(chunk=s.balance_chunk)
    return {
        "pcpu_nr_empty_pop_pages": s.nr_empty_pop_pages,
        "pcpu_async_enabled": s.pcpu_async_enabled,
        "pcpu_atomic_alloc_failed": s.pcpu_atomic_alloc_failed,
        "pcpu_alloc_mutex": owner_name(p, s.alloc_mutex),
        "chunks": chunks,
        "contexts": ctxs,
        "balance_work": balance,
    }


def changes(p: Params, pre: State, post: State) -> list[str]:
    """What a step changed, in kernel terms."""
    out: list[str] = []
    if pre.nr_empty_pop_pages != post.nr_empty_pop_pages:
        name = "[root]" if p.switches.counter_per_chunk_type else ""
        out.append(
            f"pcpu_nr_empty_pop_pages{name} {pre.nr_empty_pop_pages} -> {post.nr_empty_pop_pages}"
        )
    if pre.nr_empty_pop_pages_memcg != post.nr_empty_pop_pages_memcg:
        out.append(
            f"pcpu_nr_empty_pop_pages[memcg] {pre.nr_empty_pop_pages_memcg} -> "
            f"{post.nr_empty_pop_pages_memcg}"
        )
    if pre.balance_type != post.balance_type and post.balance_type:
        out.append("pcpu_balance_workfn(): on to __pcpu_balance_workfn(PCPU_CHUNK_MEMCG)")
    if pre.alloc_mutex != post.alloc_mutex:
        out.append(
            f"pcpu_alloc_mutex {owner_name(p, pre.alloc_mutex)} -> "
            f"{owner_name(p, post.alloc_mutex)}"
        )
    for name in ("pcpu_async_enabled", "pcpu_atomic_alloc_failed"):
        if getattr(pre, name) != getattr(post, name):
            out.append(f"{name} = {str(getattr(post, name)).lower()}")
    for c in range(p.nr_chunks):
        role = chunk_role(p, c)
        if pre.live[c] != post.live[c]:
            kind = " (memcg-aware)" if post.live[c] and post.memcg[c] else ""
            out.append(f"{role} {'created' if post.live[c] else 'destroyed'}{kind}")
        if (pre.alloc_map[c], pre.bound_map[c]) != (post.alloc_map[c], post.bound_map[c]):
            out.append(
                f"{role} map {cell_map(p, pre.alloc_map[c], pre.bound_map[c])} -> "
                f"{cell_map(p, post.alloc_map[c], post.bound_map[c])}"
            )
        if pre.populated[c] != post.populated[c]:
            out.append(
                f"{role} populated {page_map(p, pre.populated[c])} -> {page_map(p, post.populated[c])}"
            )
        if pre.linked[c] != post.linked[c] and post.live[c]:
            out.append(f"{role} {'linked into pcpu_slot[]' if post.linked[c] else 'unlinked'}")
        if pre.to_free[c] != post.to_free[c] and post.to_free[c]:
            out.append(f"{role} moved to to_free")
        if pre.map_alloc[c] != post.map_alloc[c]:
            out.append(f"{role} map_alloc {pre.map_alloc[c]} -> {post.map_alloc[c]}")
        if pre.isolated[c] != post.isolated[c]:
            out.append(
                f"{role} "
                + (
                    "isolated"
                    if post.isolated[c] == 1
                    else "sidelined"
                    if post.isolated[c] == 2
                    else "reintegrated"
                )
            )
        if pre.demoted[c] != post.demoted[c]:
            out.append(f"{role} " + ("moved to pcpu_slot[0]" if post.demoted[c] else "relocated"))
        if pre.map_extend_pending[c] != post.map_extend_pending[c]:
            out.append(
                f"{role} map extension {'queued' if post.map_extend_pending[c] else 'taken'}"
            )
    lp = p.live_per_context
    for i in range(p.nr_contexts):
        if pre.pc[i] != post.pc[i]:
            what = ALLOC_AT[AllocPc(post.pc[i])]
            if AllocPc(post.pc[i]) == AllocPc.IDLE:
                got = any(
                    post.live_valid[k] and not pre.live_valid[k]
                    for k in range(i * lp, (i + 1) * lp)
                )
                what = "pcpu_alloc() returns the area" if got else "pcpu_alloc() returns NULL"
            if (
                AllocPc(post.pc[i])
                in (AllocPc.EXTEND, AllocPc.POP_MUTEX, AllocPc.POPULATE, AllocPc.COUNTER)
                and AllocPc(pre.pc[i]) != AllocPc.POPULATE
            ):
                what += f" (chunk {post.chunk[i]}, off {post.off[i]}, occ_pages {post.occ[i]})"
            out.append(f"{alloc_context(i)}: {what}")
    for k in range(p.nr_contexts * lp):
        if pre.live_valid[k] != post.live_valid[k]:
            verb, of = ("holds", post) if post.live_valid[k] else ("freed", pre)
            out.append(
                f"{alloc_context(k // lp)} {verb} chunk {of.live_chunk[k]} off "
                f"{of.live_off[k]} size {of.live_size[k]}"
            )
    for i in range(p.nr_contexts):
        # the lock-order variants (model/actions/outside.py)
        if pre.outer[i] != post.outer[i] and (pre.outer[i] == 0 or post.outer[i] == 0):
            verb = "holds" if post.outer[i] else "dropped"
            out.append(f"{alloc_context(i)} {verb} the {p.switches.outside_lock} lock")
        if pre.wakeup[i] != post.wakeup[i]:
            out.append(
                f"{alloc_context(i)}: "
                + (
                    "in schedule_work(), its wakeup (pool->lock, rq->lock) next"
                    if post.wakeup[i]
                    else "the wakeup done"
                )
            )
        if pre.fs_reclaim[i] != post.fs_reclaim[i]:
            out.append(
                f"{alloc_context(i)}: "
                + (
                    "in direct reclaim: waits for the fs lock"
                    if post.fs_reclaim[i]
                    else "reclaimed"
                )
            )
    if pre.balance_fs_reclaim != post.balance_fs_reclaim:
        out.append(
            "balance work: "
            + (
                "in direct reclaim: waits for the fs lock"
                if post.balance_fs_reclaim
                else "reclaimed"
            )
        )
    if pre.balance_pending != post.balance_pending:
        out.append(f"balance work {'queued' if post.balance_pending else 'dequeued'}")
    if pre.balance_pc != post.balance_pc:
        extra = (
            f" (nr_to_pop {post.nr_to_pop})" if BalancePc(post.balance_pc) == BalancePc.PICK else ""
        )
        out.append(f"balance work: {BALANCE_AT[BalancePc(post.balance_pc)]}{extra}")
    return out


# Steps of an allocating context that belong to no request of its own.
NO_REQUEST = frozenset({Kind.FREE, Kind.OUTSIDE_LOCK, Kind.OUTSIDE_UNLOCK, Kind.WAKEUP})


def context_label(model: Model, ai: int, post: State, pre: State | None = None) -> str:
    a = model.actions[ai]
    if a.ctx is None or a.kind in NO_REQUEST:  # a free belongs to no request
        return a.context.label
    # the request is the post-state's, or the pre-state's once the call has
    # returned (a lasso's states forget a finished call's locals)
    if a.kind is Kind.ALLOC:
        atomic = a.atomic
    elif pre is not None and post.pc[a.ctx] == AllocPc.IDLE:
        atomic = pre.req_atomic[a.ctx]
    else:
        atomic = post.req_atomic[a.ctx]
    return f"{a.context} ({'atomic' if atomic else 'non-atomic'})"


def returned_at_once(model: Model, st: TraceStep, pre: State) -> list[str]:
    """An allocation that returns within its first step (an atomic request
    with no populated area) changes no program counter: say how it ended."""
    a = model.actions[st.action]
    if a.kind is not Kind.ALLOC or a.ctx is None or st.state.pc[a.ctx] != AllocPc.IDLE:
        return []
    lp = model.p.live_per_context
    mine = range(a.ctx * lp, (a.ctx + 1) * lp)
    got = any(st.state.live_valid[k] and not pre.live_valid[k] for k in mine)
    return [f"{a.context}: pcpu_alloc() returns {'the area' if got else 'NULL'}"]


def request(model: Model, st: TraceStep) -> str | None:
    """The request an allocation's first step makes, from its choices."""
    a = model.actions[st.action]
    if a.kind is not Kind.ALLOC:
        return None
    ch = st.choices
    text = f"request: {ch.get('size', '?')} cell(s), align {ch.get('align', 1)}"
    text += ", reserved" if ch.get("reserved") else ""
    # 3c7be18ac9a0: a __GFP_ACCOUNT request, served from the memcg-aware chunks
    return text + (", memcg-aware" if ch.get("memcg") else "")


def steps(model: Model, trace: Trace) -> list[dict[str, Any]]:
    out = []
    pre = trace.init
    for n, st in enumerate(trace.steps, 1):
        a = model.actions[st.action]
        record = {
            "step": n,
            "context": context_label(model, st.action, st.state, pre),
            "action": a.name,
            "kernel": a.kernel,
            "function": FUNCTION[a.kind],
            "choices": st.choices,
            "changes": changes(model.p, pre, st.state) + returned_at_once(model, st, pre),
            "state": state_dict(model.p, st.state),
        }
        if (failed := failure(a.kind, st.choices)) is not None:
            record["fails"] = failed
        out.append(record)
        pre = st.state
    return out


def render_steps(model: Model, trace: Trace, width: int = 100) -> list[str]:
    """The counterexample as numbered steps, wrapped to `width` columns."""
    lines = []
    for d, st in zip(steps(model, trace), trace.steps):
        lines.append(f"  {d['step']:>3}. {d['context']}: {d['action']}")
        lines += textwrap.wrap(
            d["kernel"], width, initial_indent=" " * 7, subsequent_indent=" " * 9
        )
        if (asked := request(model, st)) is not None:
            lines.append(" " * 7 + asked)
        if "fails" in d:
            lines += textwrap.wrap(
                f"FAILS: {d['fails']}", width, initial_indent=" " * 7, subsequent_indent=" " * 9
            )
        for c in d["changes"]:
            lines += textwrap.wrap(c, width, initial_indent=" " * 9, subsequent_indent=" " * 11)
    return lines
