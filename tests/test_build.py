"""Packaging: the compiled twins are the ones in use, and built wheels work."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

import streamcore
from streamcore._ext import CODECS, CORE, NO_EXTENSIONS, core_implementation, implementation_of

ROOT = Path(__file__).resolve().parent.parent


def test_every_codec_has_twins_and_a_selector() -> None:
    """Each ``_<name>_py.py`` has a ``.pyx`` twin, a ``.pyi`` stub and a public selector."""
    assert set(CODECS) >= {"sse"}
    codecs_dir = Path(streamcore.__file__).parent / "_codecs"
    for name in CODECS:
        assert (codecs_dir / f"_{name}_c.pyx").exists() or not (ROOT / "setup.py").exists()
        assert (codecs_dir / f"_{name}_c.pyi").exists()
        mod = importlib.import_module(f"streamcore.{name}")
        assert mod._impl.__name__.startswith("streamcore._codecs._")


def test_compiled_twins_loaded_when_expected() -> None:
    """Guard: on CPython without STREAMCORE_NO_EXTENSIONS, every codec must be compiled.

    A build that silently fell back to the pure twins would otherwise pass the
    whole suite while measuring and shipping the slow path.
    """
    if NO_EXTENSIONS:
        for name in CODECS:
            assert implementation_of(importlib.import_module(f"streamcore.{name}")._impl) == "pure"
        return
    missing = [
        name
        for name in CODECS
        if implementation_of(importlib.import_module(f"streamcore.{name}")._impl) != "compiled"
    ]
    assert not missing, (
        f"compiled twins expected but pure ones loaded for {missing}; "
        "build them with `pip install -e .` or set STREAMCORE_NO_EXTENSIONS=1"
    )


def test_main_reports_each_codec() -> None:
    """``python -m streamcore`` prints the version and each codec's implementation."""
    out = subprocess.run(
        [sys.executable, "-m", "streamcore"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert streamcore.__version__ in out
    want = "pure" if NO_EXTENSIONS else "compiled"
    for name in CODECS:
        line = next(l for l in out.splitlines() if l.split()[:1] == [name])
        assert line.split()[1] == want


def test_every_core_module_has_its_pxd_and_is_built() -> None:
    """Each compiled core module (``_ext.CORE``) has its augmenting ``.pxd`` beside its
    ``.py``, and ``setup.py`` builds exactly that list."""
    pkg = Path(streamcore.__file__).parent
    for name in CORE:
        rel = Path(*name.split("."))
        assert (pkg / rel.with_suffix(".py")).exists()
        assert (pkg / rel.with_suffix(".pxd")).exists() or not (ROOT / "setup.py").exists()
    if (ROOT / "setup.py").exists():
        import ast

        tree = ast.parse((ROOT / "setup.py").read_text())
        found = [ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                 and any(isinstance(t, ast.Name) and t.id == "CORE" for t in n.targets)]
        assert found == [CORE], "setup.py's CORE must equal streamcore._ext.CORE"


def test_compiled_core_loaded_when_expected() -> None:
    """Guard, as for the codecs: without STREAMCORE_NO_EXTENSIONS every core module is the
    compiled one; with it, every one is loaded from its ``.py`` (the compiled copies,
    which shadow the ``.py`` on a plain import, are passed over)."""
    want = "pure" if NO_EXTENSIONS else "compiled"
    got = {name: core_implementation(name) for name in CORE}
    assert set(got.values()) == {want}, got
    import streamcore.aio.server

    for name in CORE:  # what was imported is what core_implementation said
        mod = importlib.import_module(f"streamcore.{name}")
        assert (mod.__file__ or "").endswith(".py") == (want == "pure"), (name, mod.__file__)
    from streamcore._endpoint import Server

    # A compiled method is no Python function: the class really is the extension type.
    assert (type(Server.__dict__["receive_request"]).__name__ == "function") == NO_EXTENSIONS


def test_pure_core_switch_in_a_fresh_interpreter() -> None:
    """The switch works from a cold start: STREAMCORE_NO_EXTENSIONS=1 loads every core
    module from its ``.py``; without it (in a build with the compiled core, which the
    guard above requires) none is."""
    code = ("import streamcore, streamcore.aio.server as a, streamcore._session as s; "
            "print(a.__file__.endswith('.py'), s.__file__.endswith('.py'))")

    def run(value: str | None) -> str:
        env = {k: v for k, v in os.environ.items() if k != "STREAMCORE_NO_EXTENSIONS"}
        if value is not None:
            env["STREAMCORE_NO_EXTENSIONS"] = value
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              cwd=ROOT, env=env).stdout.strip()

    assert run("1") == "True True"
    if not NO_EXTENSIONS:
        assert run(None) == "False False"


_BUILD_IGNORE = shutil.ignore_patterns(
    ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", "*.so", "*.c",
    ".hypothesis", ".benchmarks", ".pytest_cache",
)


def _build_ignore(folder: str, names: list[str]) -> set[str]:
    """What a build copy leaves out: build products, and Cython's annotation pages
    (``*.html``) everywhere but ``streamcore/web``, whose page is package data."""
    out = set(_BUILD_IGNORE(folder, names))
    if Path(folder).name != "web":
        out |= {n for n in names if n.endswith(".html")}
    return out


@pytest.mark.slow
@pytest.mark.integration
def test_wheel_installs_into_fresh_venv(tmp_path: Path) -> None:
    """``python -m build`` makes an sdist and a wheel; the wheel works in a new venv.

    In a normal run the wheel must carry and import the compiled twins; under
    STREAMCORE_NO_EXTENSIONS=1 the build must still succeed, pure-Python only.
    The sdist is checked to carry the ``.pyx`` sources and the stubs.
    """
    if shutil.which("gcc") is None and not NO_EXTENSIONS:
        pytest.skip("no C compiler to build the wheel's extensions")
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=_build_ignore)
    env = dict(os.environ)
    if not NO_EXTENSIONS:
        env["STREAMCORE_REQUIRE_EXTENSIONS"] = "1"
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(tmp_path / "dist"), str(src)],
        check=True, env=env, capture_output=True,
    )
    dist = tmp_path / "dist"
    wheels = list(dist.glob("*.whl"))
    sdists = list(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1
    import tarfile

    names = tarfile.open(sdists[0]).getnames()
    for name in CODECS:
        assert any(n.endswith(f"streamcore/_codecs/_{name}_c.pyx") for n in names)
        assert any(n.endswith(f"streamcore/_codecs/_{name}_c.pyi") for n in names)
    assert any(n.endswith("streamcore/py.typed") for n in names)
    assert any(n.endswith("streamcore/web/index.html") for n in names)  # the browser page (package data)
    for name in CORE:  # the compiled core's augmenting .pxd files (its source is the .py)
        assert any(n.endswith("streamcore/" + name.replace(".", "/") + ".pxd") for n in names), name

    venv_dir = tmp_path / "venv"
    venv.create(venv_dir, with_pip=True)
    py = venv_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "-q", str(wheels[0])], check=True)
    out = subprocess.run(
        [str(py), "-m", "streamcore"], capture_output=True, text=True, check=True, cwd=tmp_path,
        env={k: v for k, v in env.items() if k != "PYTHONPATH"},
    ).stdout
    want = "pure" if NO_EXTENSIONS else "compiled"
    for name in CODECS + CORE:
        line = next(l for l in out.splitlines() if l.split()[:1] == [name])
        assert line.split()[1] == want, out
    site = subprocess.run(
        [str(py), "-c", "import streamcore, os; print(os.path.dirname(streamcore.__file__))"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    ).stdout.strip()
    assert str(venv_dir) in site  # imported from the venv, not the source tree
    assert (Path(site) / "py.typed").exists()
    assert b"<script>" in (Path(site) / "web" / "index.html").read_bytes()  # served at / by serve


@pytest.mark.slow
@pytest.mark.integration
def test_install_without_a_compiler_falls_back_to_pure(tmp_path: Path) -> None:
    """With the C compiler broken, ``pip install`` still succeeds and the pure twins load."""
    src = tmp_path / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", "*.so", "*.c", "*.html",
            ".hypothesis", ".benchmarks", ".pytest_cache", "tests", "benches", "docs",
        ),
    )
    venv_dir = tmp_path / "venv"
    venv.create(venv_dir, with_pip=True)
    py = venv_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMCORE_") and k != "PYTHONPATH"}
    env["CC"] = "false"  # every compile step fails
    proc = subprocess.run(
        [str(py), "-m", "pip", "install", "-v", str(src)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Falling back to the pure-Python twins" in proc.stdout + proc.stderr
    out = subprocess.run(
        [str(py), "-m", "streamcore"], capture_output=True, text=True, check=True, cwd=tmp_path, env=env
    ).stdout
    for name in CODECS:
        line = next(l for l in out.splitlines() if l.split()[:1] == [name])
        assert line.split()[1] == "pure", out
