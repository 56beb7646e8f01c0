"""Build script: compiles the Cython twins of the codecs.

Everything else about the package is in ``pyproject.toml``.

* ``STREAMCORE_NO_EXTENSIONS=1`` skips compilation entirely; the package then
  runs on its pure-Python twins.
* When compilation fails (no C compiler, no Python headers), the build warns
  and carries on without the extensions, so ``pip install`` still succeeds.
  Set ``STREAMCORE_REQUIRE_EXTENSIONS=1`` to make such a failure fatal instead
  (CI does, so that a broken extension cannot hide behind the fallback).
* ``build_ext --cython-always`` re-cythonizes even when a ``.c`` file exists;
  ``--cython-annotate`` writes the HTML annotation next to each ``.pyx``.
"""

from __future__ import annotations

import glob
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext as _build_ext

NO_EXTENSIONS = bool(os.environ.get("STREAMCORE_NO_EXTENSIONS")) or (
    sys.implementation.name != "cpython"
)
REQUIRE_EXTENSIONS = bool(os.environ.get("STREAMCORE_REQUIRE_EXTENSIONS"))
DEBUG = bool(os.environ.get("STREAMCORE_DEBUG"))

HERE = os.path.dirname(os.path.abspath(__file__))
#: streamcore._ext.CORE (not imported from there: setup.py runs before the package is importable).
CORE = ("_toolkit", "_session", "_endpoint", "aio.server")


def _extensions() -> list[Extension]:
    exts = []
    for pyx in sorted(glob.glob(os.path.join("streamcore", "_codecs", "*_c.pyx"))):
        name = pyx[:-4].replace(os.sep, ".")
        exts.append(
            Extension(
                name,
                [pyx],
                extra_compile_args=["-O2", "-g0"] if not DEBUG else ["-O0", "-g"],
            )
        )
    # The server core's request path, compiled as it is (Cython's pure Python
    # mode): the augmenting .pxd beside each module makes its classes extension
    # types with C fields; the .py stays the source and the pure twin
    # (streamcore._ext.CORE; docs/performance.md has the measurements).
    for name in CORE:
        exts.append(
            Extension(
                f"streamcore.{name}",
                [os.path.join("streamcore", *name.split(".")) + ".py"],
                extra_compile_args=["-O2", "-g0"] if not DEBUG else ["-O0", "-g"],
            )
        )
    return exts


class build_ext(_build_ext):
    user_options = _build_ext.user_options + [
        ("cython-always", None, "run cythonize even if a generated .c file exists"),
        ("cython-annotate", None, "produce a colorized HTML version of each .pyx"),
    ]
    boolean_options = _build_ext.boolean_options + ["cython-always", "cython-annotate"]

    def initialize_options(self) -> None:
        super().initialize_options()
        self.cython_always = False
        self.cython_annotate = False

    def finalize_options(self) -> None:
        # Cythonize first: setuptools' own finalize_options annotates the
        # Extension objects it finds, so they must already be the final ones.
        if self.distribution.ext_modules:
            from Cython.Build import cythonize

            # Called more than once in some builds (an editable install): the second
            # time the sources are the generated .c files, which cythonize passes on.
            exts = self.distribution.ext_modules
            core = [e for e in exts if e.sources[0].endswith(".py")]
            rest = [e for e in exts if not e.sources[0].endswith(".py")]
            common = dict(force=bool(self.cython_always), annotate=bool(self.cython_annotate))
            self.distribution.ext_modules[:] = cythonize(
                rest,
                # Per-module speed directives (boundscheck, wraparound, ...) sit in
                # each .pyx header, so `cythonize -i file.pyx` builds the same code.
                compiler_directives={"language_level": "3", "embedsignature": True},
                compile_time_env={"STREAMCORE_DEBUG": DEBUG},
                **common,
            ) + (cythonize(
                core,
                # The .py's annotations are for type checkers, not C types: the
                # compiled module behaves as the pure one (types come from the .pxd).
                compiler_directives={"language_level": "3", "annotation_typing": False, "binding": True},
                **common,
            ) if core else [])
        super().finalize_options()

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # compiler missing, headers missing, ...
            self._fallback(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._fallback(exc)

    def _fallback(self, exc: BaseException) -> None:
        if REQUIRE_EXTENSIONS:
            raise exc
        sys.stderr.write(
            "\n*** streamcore: could not compile the Cython extensions "
            f"({exc!r}).\n*** Falling back to the pure-Python twins.\n\n"
        )


setup(
    ext_modules=[] if NO_EXTENSIONS else _extensions(),
    cmdclass={"build_ext": build_ext},
)
