"""The layers of STYLE.md / docs/design.md hold for the core: imports point down, the two era
cores do not import each other, and the JSON-RPC twins import nothing above them
(internal: reads private module sources)."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

PKG = pathlib.Path(__file__).resolve().parents[2] / "streamcore"

#: Core modules, lowest first; a module may import only modules of a lower rank.
RANKS: dict[str, float] = {
    "_versions": 0, "_protocol": 0,
    "_errors": 1, "_headers": 1, "_policy": 1, "_ext": 1,
    "_codecs": 2, "sse": 3, "jsonrpc": 3, "chunked": 3.5,  # chunked re-exports sse.encode_event_chunk
    "_era": 4, "_store": 4,
    "_events": 5, "_states": 5, "_results": 5,
    "_config": 6, "_toolkit": 6,
    "_session": 7, "_modern": 7,
    "_endpoint": 8, "_server": 9,
    "server": 10, "events": 10, "store": 10, "era": 10,
}


def _imports(path: pathlib.Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module.split(".")[0])
            else:
                out.update(a.name for a in node.names)
    return out


@pytest.mark.parametrize("name", sorted(n for n in RANKS if (PKG / f"{n}.py").exists()))
def test_core_imports_point_down(name: str) -> None:
    """Each core module imports only core modules of a lower layer (siblings never each other)."""
    path = PKG / f"{name}.py"
    for dep in _imports(path):
        if dep in RANKS:
            assert RANKS[dep] < RANKS[name], f"{name} imports {dep}, which is not below it"


def test_jsonrpc_has_no_import_cycle() -> None:
    """The JSON-RPC twins import nothing above them: importing a twin alone does not load the selector."""
    code = (
        "import sys; import streamcore._codecs._jsonrpc_py as t; "
        "assert 'streamcore.jsonrpc' not in sys.modules, 'selector loaded'; "
        "p = t.parse(b'{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"a\":1}}', allow_batch=False, lazy=True); "
        "print(p.messages[0].params.decode())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "{'a': 1}"
