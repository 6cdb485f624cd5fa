"""Links from a counterexample's steps to the kernel source of the spec's
version: the function a step's kind runs in (kernel_words.FUNCTION), at the
tag (Elixir's cross-reference, which names the definition's file and line)
or at the commit (git.kernel.org) the spec models.

A spec's version is its family's: a shipped spec is named after the kernel
it models (`v4.13`, `v4.13-window`, `seed-scaled`), and the injected bugs
each change one behaviour of v4.13.  A spec of no known family gets no link.
"""

from __future__ import annotations

from percpu_mc.checker.report.kernel_words import FUNCTION
from percpu_mc.model.vocabulary import Kind

# The kernel each family of specs models: a release tag, or a commit (the
# seed and its parent are no release).
KERNEL_REF: dict[str, str] = {
    "pre-async": "1a4d76076cda^",
    "seed": "1a4d76076cda",
    "v3.18": "v3.18",
    "v4.7": "v4.7",
    "v4.13": "v4.13",
    "v5.14": "v5.14",
    "inject": "v4.13",
}
ELIXIR = "https://elixir.bootlin.com/linux/{ref}/C/ident/{function}"
CGIT = "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/tree/{path}?id={ref}"
# pcpu_populate_chunk(), pcpu_create_chunk() and pcpu_destroy_chunk() live in
# the chunk backend mm/percpu-vm.c ("pulled into this file", mm/percpu.c)
BACKEND = frozenset({"pcpu_populate_chunk", "pcpu_create_chunk", "pcpu_destroy_chunk"})


def kernel_ref(spec: str) -> str | None:
    """The tag or commit a spec models (None: not known)."""
    family = max(
        (f for f in KERNEL_REF if spec == f or spec.startswith(f + "-")), key=len, default=None
    )
    return None if family is None else KERNEL_REF[family]


def source_url(spec: str, kind: Kind) -> str | None:
    """Where to read the code of a step of `kind` in the spec's kernel."""
    ref = kernel_ref(spec)
    if ref is None:
        return None
    function = FUNCTION[kind]
    if ref.startswith("v"):
        return ELIXIR.format(ref=ref, function=function)
    path = "mm/percpu-vm.c" if function in BACKEND else "mm/percpu.c"
    return CGIT.format(path=path, ref=ref)
