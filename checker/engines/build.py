"""Building a generated C module: the system C compiler, and a cache of
built modules keyed by the hash of their source, so a spec compiles once
per machine."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path


class CompilerMissing(RuntimeError):
    """No C compiler: the compiled engine cannot be built here."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "percpu-mc"


def compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise CompilerMissing(
            "the compiled explicit engine needs a C compiler (cc or gcc; "
            "Debian: apt-get install gcc); --engine explicit-python runs "
            "the pure-Python engine without one"
        )
    return cc


def build(source: str) -> Path:
    """The shared object of `source`, compiled once and cached by its hash."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    target = cache_dir() / f"model-{digest}.so"
    if target.exists():
        return target
    cc = compiler()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "model.c"
        src.write_text(source)
        out = Path(tmp) / "model.so"
        done = subprocess.run(
            [cc, "-O1", "-shared", "-fPIC", "-w", "-o", str(out), str(src)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise CompilerMissing(f"{cc} failed on the generated model: {done.stderr[:2000]}")
        # a rename within the cache directory, so a concurrent run never loads half a file
        fd, part = tempfile.mkstemp(dir=target.parent, suffix=".so.tmp")
        os.close(fd)
        shutil.copyfile(out, part)
        os.replace(part, target)
    return target
