"""What compiling the server core's modules buys: instructions per request, three builds.

    python benches/e2e/compile_core/run.py            # session SSE; add --json or --modern

The modules of ``streamcore._ext.CORE`` (the request path: ``_toolkit``,
``_session``, ``_endpoint``, ``aio/server``) are compiled by ``setup.py``
from their ``.py`` in Cython's pure Python mode, typed by the augmenting
``.pxd`` beside each. This copies ``streamcore/`` and ``benches/e2e/`` into
a temporary directory (the codecs' compiled twins included, the core's
compiled copies left out) and runs ``benches/e2e/hotpath.py 1000 --ir``
(callgrind; exact counts, so the shared machine's load does not matter) on

1. the pure core (the ``.py`` files, as ``STREAMCORE_NO_EXTENSIONS`` would
   load them, with the codecs still compiled);
2. the core compiled as it is, the ``.pxd`` files removed (plain Cython:
   generic attribute and call paths);
3. the core compiled as ``setup.py`` builds it, with the ``.pxd`` files.

Needs Cython, a C compiler and valgrind. The repository is not touched.
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
sys.path.insert(0, str(ROOT))

from streamcore._ext import CORE  # noqa: E402


def ir(tree: Path, extra: list[str]) -> int:
    out = subprocess.run([sys.executable, str(tree / "benches/e2e/hotpath.py"), "1000", "--ir", *extra],
                         capture_output=True, text=True, timeout=900, cwd=tree).stdout
    m = re.search(r"([\d,]+) instructions per request", out)
    if m is None:
        raise RuntimeError(out)
    return int(m.group(1).replace(",", ""))


def build(tree: Path, sources: list[str]) -> None:
    subprocess.run(["cythonize", "-i", "-3", "-j", "2", "-X", "annotation_typing=False", "-X", "binding=True",
                    *sources], cwd=tree, check=True, capture_output=True, timeout=900)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="JSON-response mode (hotpath.py --json)")
    ap.add_argument("--modern", action="store_true", help="2026-07-28 requests (hotpath.py --modern)")
    args = ap.parse_args()
    if shutil.which("valgrind") is None or shutil.which("cythonize") is None:
        print("needs valgrind and Cython (cythonize)", file=sys.stderr)
        return 2
    extra = (["--json"] if args.json else []) + (["--modern"] if args.modern else [])
    paths = [Path("streamcore", *name.split(".")) for name in CORE]
    sources = [str(p.with_suffix(".py")) for p in paths]
    rows: list[tuple[str, int]] = []
    with tempfile.TemporaryDirectory() as d:
        tree = Path(d)
        shutil.copytree(ROOT / "streamcore", tree / "streamcore",
                        ignore=shutil.ignore_patterns("__pycache__", "*.c", "*.html"))
        shutil.copytree(ROOT / "benches" / "e2e", tree / "benches" / "e2e", ignore=shutil.ignore_patterns("__pycache__"))
        for p in paths:  # the core's compiled copies: out (the codecs' stay)
            for so in (tree / p.parent).glob(p.name + ".*.so"):
                so.unlink()
        rows.append(("pure core (.py)", ir(tree, extra)))
        pxds = {p: (tree / p.with_suffix(".pxd")).read_bytes() for p in paths}
        for p in paths:
            (tree / p.with_suffix(".pxd")).unlink()
        build(tree, sources)
        rows.append(("compiled as it is (no .pxd)", ir(tree, extra)))
        for p, text in pxds.items():
            (tree / p.with_suffix(".pxd")).write_bytes(text)
        build(tree, ["--force", *sources])
        rows.append(("compiled with the .pxd files (the build)", ir(tree, extra)))
    base = rows[0][1]
    mode = "2026-07-28" if args.modern else ("session JSON" if args.json else "session SSE")
    print(f"instructions per request, {mode} (hotpath.py 1000 --ir):")
    for label, n in rows:
        print(f"  {label:<42} {n:>9,}  {(n - base) / base * 100:+6.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
