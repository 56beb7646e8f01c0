"""Does compiling the pure-Python request path with Cython pay? Instructions per request, measured.

    python benches/e2e/compile_core/run.py            # plain: the modules compiled as they are
    python benches/e2e/compile_core/run.py --cdef     # plus _toolkit.pxd: Exchange, Outbox, Kit, ... as cdef classes

Copies ``streamcore/`` and ``benches/e2e/`` into a temporary directory,
compiles the modules of the per-request path there with ``cythonize -i``
(language level 3, annotations not used as C types, so behaviour is the
pure module's), optionally with the augmenting ``_toolkit.pxd`` next to this
script (typed slots, ``cpdef`` methods), and runs
``benches/e2e/hotpath.py 1000 --ir`` (callgrind; exact counts, so the shared
machine's load does not matter) on that copy and on this tree. Needs Cython,
a C compiler and valgrind. The repository itself is not touched: this is an
experiment, not the build (``setup.py`` compiles only the codecs and the
HTTP/1.1 engine, which have pure twins of their own).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent.parent

#: The per-request path: adapter, endpoint, both cores' shared kit, session core, state
#: tables, events, store, head policy, the demo app.
MODULES = [
    "streamcore/_session.py", "streamcore/_endpoint.py", "streamcore/_toolkit.py", "streamcore/_states.py",
    "streamcore/_era.py", "streamcore/_server.py", "streamcore/_events.py", "streamcore/_store.py",
    "streamcore/_policy.py", "streamcore/_headers.py", "streamcore/aio/server.py", "streamcore/demo.py",
]


def ir(tree: Path, extra: list[str]) -> int:
    out = subprocess.run([sys.executable, str(tree / "benches/e2e/hotpath.py"), "1000", "--ir", *extra],
                         capture_output=True, text=True, timeout=900, cwd=tree).stdout
    m = re.search(r"([\d,]+) instructions per request", out)
    if m is None:
        raise RuntimeError(out)
    return int(m.group(1).replace(",", ""))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cdef", action="store_true", help="add the augmenting _toolkit.pxd (cdef classes)")
    ap.add_argument("--json", action="store_true", help="JSON-response mode (hotpath.py --json)")
    args = ap.parse_args()
    if shutil.which("valgrind") is None or shutil.which("cythonize") is None:
        print("needs valgrind and Cython (cythonize)", file=sys.stderr)
        return 2
    extra = ["--json"] if args.json else []
    with tempfile.TemporaryDirectory() as d:
        tree = Path(d)
        shutil.copytree(ROOT / "streamcore", tree / "streamcore",
                        ignore=shutil.ignore_patterns("__pycache__", "*.c", "*.html"))
        shutil.copytree(ROOT / "benches" / "e2e", tree / "benches" / "e2e", ignore=shutil.ignore_patterns("__pycache__"))
        if args.cdef:
            shutil.copy(HERE / "_toolkit.pxd", tree / "streamcore" / "_toolkit.pxd")
        subprocess.run(["cythonize", "-i", "-3", "-j", "2", "-X", "annotation_typing=False", *MODULES],
                       cwd=tree, check=True, capture_output=True, timeout=900)
        compiled = ir(tree, extra)
    pure = ir(ROOT, extra)
    label = "compiled, with cdef classes for the toolkit" if args.cdef else "compiled as they are"
    print(f"pure modules: {pure:,} instructions per request")
    print(f"{label}: {compiled:,} ({(compiled - pure) / pure * 100:+.1f} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
