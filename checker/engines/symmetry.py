"""The symmetry reduction of the compiled search: the allocating contexts,
the dynamic chunk structs and one context's live-allocation slots are
interchangeable, so one canonical representative (the least packed form
over the group) is stored per class; dead locals and the history outside
the checked properties' cone are forgotten first (codegen.forget_code)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from percpu_mc.checker.engines.layout import Layout
from percpu_mc.model.control import MUTEX_FREE, alloc_owner
from percpu_mc.model.domains import Group, Names
from percpu_mc.model.machine import Model


@dataclass(frozen=True)
class Symmetry:
    """A permutation of the contexts, a relabelling of the chunk structs,
    and per context a permutation of its live-allocation slots."""

    sigma: tuple[int, ...]
    chunk_map: dict[int, int]
    live: tuple[tuple[int, ...], ...]

    def identity(self) -> bool:
        return (
            all(i == s for i, s in enumerate(self.sigma))
            and all(k == v for k, v in self.chunk_map.items())
            and all(all(i == s for i, s in enumerate(perm)) for perm in self.live)
        )


def symmetries(model: Model) -> list[Symmetry]:
    """Every symmetry but the identity: the allocating contexts are
    interchangeable, and so are the dynamic chunk structs (the first and
    reserved chunks stay put) and the live-allocation slots of one
    context (a slot records nothing but its area)."""
    p = model.p
    dyn = list(range(p.first_dynamic, p.nr_chunks))
    slots = list(itertools.permutations(range(p.live_per_context)))
    out = []
    for sigma in itertools.permutations(range(p.nr_contexts)):
        for tau in itertools.permutations(dyn):
            chunk_map = {c: c for c in range(p.first_dynamic)} | dict(zip(dyn, tau))
            for live in itertools.product(slots, repeat=p.nr_contexts):
                sym = Symmetry(sigma, chunk_map, live)
                if not sym.identity():
                    out.append(sym)
    return out


def moves(model: Model, layout: Layout, sym: Symmetry) -> list[tuple[int, dict[int, int]]]:
    """One symmetry as data: for each flat slot, the slot its value comes
    from and the renaming of that value.  Position i (context) or c
    (chunk) takes what sat at sigma[i] or chunk_map[c], and a value that
    names a context or a chunk is renamed the opposite way."""
    p = model.p
    per_live = p.live_per_context
    index = {(sl.name, sl.index): j for j, sl in enumerate(layout.slots)}
    owner = {MUTEX_FREE: MUTEX_FREE} | {
        alloc_owner(i): alloc_owner(sym.sigma[i]) for i in range(p.nr_contexts)
    }
    out = []
    for sl in layout.slots:
        g, src = sl.domain.group, sl.index
        if g is Group.CHUNK:
            src = sym.chunk_map[sl.index]
        elif g is Group.CONTEXT:
            src = sym.sigma[sl.index]
        elif g is Group.LIVE:
            i, k = divmod(sl.index, per_live)
            src = sym.sigma[i] * per_live + sym.live[i][k]
        names = {Names.CHUNK: sym.chunk_map, Names.OWNER: owner}.get(sl.domain.names, {})
        rename = {b: a for a, b in names.items() if a != b}
        out.append((index[(sl.name, src)], rename))
    return out


def canon_code(model: Model, layout: Layout) -> str:
    """canon_pack(): the least packed form over the symmetry group, the
    history outside `keep` and the dead locals forgotten."""
    out = [
        "static int canon_pack(const int64_t *in, uint64_t keep, uint64_t *w) {",
        "int64_t v[NF]; memcpy(v, in, sizeof(v)); forget(v, keep);",
        "int bad = pack(v, w); if (bad) return bad;",
        f"int64_t u[NF]; uint64_t c[{layout.words}];",
    ]
    for sym in symmetries(model):
        for j, (src, rename) in enumerate(moves(model, layout, sym)):
            expr = f"v[{src}]"
            if rename:
                cases = " : ".join(f"{expr} == {b} ? {a}" for b, a in rename.items())
                expr = f"({cases} : {expr})"
            out.append(f"u[{j}] = {expr};")
        out.append("pack(u, c);")
        out.append("if (memcmp(c, w, sizeof(c)) < 0) memcpy(w, c, sizeof(c));")
    out.append("return 0;\n}\n")
    return "\n".join(out)
