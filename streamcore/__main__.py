"""``python -m streamcore``: what is installed and which codecs are compiled."""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from ._ext import CODECS, NO_EXTENSIONS, implementation_of


def _info() -> int:
    print(f"streamcore {__version__} on {sys.implementation.name} {sys.version.split()[0]}")
    if NO_EXTENSIONS:
        print("extensions disabled (STREAMCORE_NO_EXTENSIONS or not CPython)")
    for name in CODECS:
        mod = importlib.import_module(f"streamcore.{name}")
        impl = mod._impl
        print(f"  {name:<8} {implementation_of(impl):<8} {impl.__name__}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streamcore", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("info", help="print the version and each codec's implementation (default)")
    args = parser.parse_args(argv)
    if args.command in (None, "info"):
        return _info()
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
