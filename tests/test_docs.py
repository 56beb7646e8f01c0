"""Every code block in ``README.md`` and ``docs/*.md`` runs, or is marked as a fragment.

The rules (``docs/index.md``, "Code blocks in these pages"):

* A fenced block whose info string is ``python`` is executed. The ``python``
  blocks of one page run in order, in one namespace, in a fresh interpreter
  with the repository on ``sys.path`` and an empty temporary directory as the
  working directory. A block may use top-level ``await``; all such blocks of
  a page share one event loop. A block that starts a server must stop it:
  when the page ends, no thread, task, child process or listening socket may
  be left.
  Each page has a time limit (:data:`PAGE_TIMEOUT`).
* ``python fragment`` blocks are not run, only compiled (top-level ``await``
  allowed), so they are at least valid Python.
* No Python block, run or fragment, imports a private module
  (``streamcore._anything``): docs show the public API only.
* Every block has an info string, from :data:`INFO_STRINGS`.
* A block right after an HTML comment ``<!-- file: PATH -->`` must equal the
  repository file ``PATH`` (how the embedding pages show their examples).
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
#: Seconds one page's blocks may take, all together.
PAGE_TIMEOUT = 120.0
INFO_STRINGS = {"python", "python fragment", "sh", "text", "mermaid", "toml", "json", "yaml", "http", "javascript"}

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_FILE_MARK = re.compile(r"^<!--\s*file:\s*(?P<path>\S+)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    info: str
    code: str
    file: str | None  # the <!-- file: PATH --> mark right before it, if any

    @property
    def where(self) -> str:
        return f"{_rel(self.page)}:{self.line}"


def _rel(page: Path) -> str:
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else str(page)


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page (CommonMark fences, not nested)."""
    out: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        fence, info, indent = m.group("fence"), m.group("info").strip(), len(m.group("indent"))
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines):
            close = _FENCE.match(lines[i])
            if close and close.group("fence")[0] == fence[0] and len(close.group("fence")) >= len(fence) \
                    and not close.group("info").strip():
                break
            body.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i])
            i += 1
        else:
            raise AssertionError(f"{_rel(page)}:{start + 1}: unclosed code block")
        prev = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        mark = _FILE_MARK.match(prev.strip())
        out.append(Block(page, start + 1, info, "\n".join(body) + "\n", mark.group("path") if mark else None))
        i += 1
    return out


ALL = [b for p in PAGES for b in blocks(p)]
PYTHON = [b for b in ALL if b.info.split()[:1] == ["python"]]


def _compile(b: Block) -> ast.Module:
    try:
        tree = compile(b.code, b.where, "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError as exc:
        pytest.fail(f"{b.where}: the block is not valid Python: {exc}")
    assert isinstance(tree, ast.Module)
    return tree


def private_imports(tree: ast.AST) -> list[str]:
    """Modules under ``streamcore._*`` that ``tree`` imports."""
    found: list[str] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "streamcore" and any(p.startswith("_") and not p.startswith("__") for p in parts[1:]):
                found.append(name)
    return found


def test_blocks_found() -> None:
    """The extractor sees the pages' blocks (a broken fence regex would make every test vacuous)."""
    assert len(PAGES) >= 10
    assert len(PYTHON) >= 10
    assert any(b.info == "python" for b in PYTHON)


def test_extractor_on_a_sample(tmp_path: Path) -> None:
    """Fences with info strings, indented fences, longer closing fences, and the file mark."""
    page = tmp_path / "p.md"
    page.write_text(
        "text\n\n```python\nx = 1\n```\n\n<!-- file: examples/a.py -->\n\n````python fragment\n"
        "```\ny = 2\n`````\n\n  ```sh\n  echo hi\n  ```\n",
        encoding="utf-8",
    )
    got = blocks(page)
    assert [(b.line, b.info, b.code, b.file) for b in got] == [
        (3, "python", "x = 1\n", None),
        (9, "python fragment", "```\ny = 2\n", "examples/a.py"),
        (14, "sh", "echo hi\n", None),
    ]


def test_private_import_detector() -> None:
    """The check below would catch each way of importing a private module."""
    for src in ("import streamcore._server", "from streamcore._events import X",
                "from streamcore.aio import _h2", "import streamcore.aio._h2 as h"):
        assert private_imports(ast.parse(src)), src
    for src in ("import streamcore", "from streamcore.server import Server", "from streamcore import __version__"):
        assert not private_imports(ast.parse(src)), src


@pytest.mark.parametrize("b", ALL, ids=[b.where for b in ALL])
def test_info_string(b: Block) -> None:
    """Every block says what it is (``python``, ``python fragment``, ``sh``, ``text``, ...)."""
    assert b.info in INFO_STRINGS, f"{b.where}: info string {b.info!r}; use one of {sorted(INFO_STRINGS)}"


@pytest.mark.parametrize("b", PYTHON, ids=[b.where for b in PYTHON])
def test_python_block_compiles_and_is_public(b: Block) -> None:
    """Every Python block (run or fragment) is valid Python and imports no ``streamcore._x``."""
    tree = _compile(b)
    bad = private_imports(tree)
    assert not bad, f"{b.where}: imports private module(s) {bad}; use the public faces"


FILE_BLOCKS = [b for b in ALL if b.file is not None]


@pytest.mark.parametrize("b", FILE_BLOCKS, ids=[b.where for b in FILE_BLOCKS])
def test_block_equals_its_file(b: Block) -> None:
    """A block marked ``<!-- file: PATH -->`` shows ``PATH`` exactly."""
    assert b.file is not None
    path = ROOT / b.file
    assert path.is_file(), f"{b.where}: {b.file} does not exist"
    assert b.code == path.read_text(encoding="utf-8"), f"{b.where}: the block differs from {b.file}; copy the file in"


def test_every_example_is_shown_and_public() -> None:
    """Each file under ``examples/`` is shown on a page (a file-marked block) and imports no private module."""
    shown = {b.file for b in FILE_BLOCKS}
    for path in sorted((ROOT / "examples").glob("*.py")):
        rel = str(path.relative_to(ROOT))
        assert rel in shown, f"{rel} is on no docs page (add a <!-- file: {rel} --> block)"
        bad = private_imports(ast.parse(path.read_text(encoding="utf-8")))
        assert not bad, f"{rel} imports private module(s) {bad}"


# The runner executes one page's blocks in a fresh interpreter and reports on
# stdout, as JSON, the index of the block that failed (or -1) and why.
_RUNNER = textwrap.dedent(
    """
    import ast, asyncio, gc, json, multiprocessing, os, sys, threading, traceback
    blocks = json.loads(sys.stdin.read())
    ns = {"__name__": "__docs__"}
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    def sockets():
        # Listening TCP sockets of this process (Linux /proc): a server left running.
        try:
            fds = os.listdir("/proc/self/fd")
        except OSError:  # not Linux: not counted
            return 0
        mine = set()
        for fd in fds:
            try:
                link = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                mine.add(link[8:-1])
        listening = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                rows = open(table).read().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                f = row.split()
                if len(f) > 9 and f[3] == "0A":  # state LISTEN
                    listening.add(f[9])
        return len(mine & listening)
    before = sockets()
    def report(i, why):
        sys.stdout.write("\\n@@RESULT@@" + json.dumps({"index": i, "error": why}) + "\\n")
        sys.stdout.flush()
    for i, (where, code) in enumerate(blocks):
        try:
            c = compile(code, where, "exec", flags=flags)
            r = eval(c, ns)
            if asyncio.iscoroutine(r):
                loop.run_until_complete(r)
        except BaseException:
            report(i, traceback.format_exc())
            sys.exit(0)
    left = []
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    if tasks:
        left.append(f"{len(tasks)} asyncio task(s) still pending: {tasks!r}")
    threads = [t for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()]
    if threads:
        left.append(f"thread(s) still running: {threads!r}")
    kids = multiprocessing.active_children()
    if kids:
        left.append(f"child process(es) still running: {kids!r}")
    gc.collect()
    if sockets() > before:
        left.append(f"{sockets() - before} server socket(s) still listening")
    loop.close()
    report(-1 if not left else len(blocks) - 1, "; ".join(left) + " (a block that starts something must stop it)" if left else None)
    """
)

RUN_PAGES = sorted({b.page for b in PYTHON if b.info == "python"})


def run_blocks(run: list[Block], cwd: Path) -> tuple[int, str | None]:
    """Run ``python`` blocks as one page does: (index of the failing block or -1, why)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _RUNNER],
            input=json.dumps([(b.where, b.code) for b in run]),
            capture_output=True, text=True, cwd=cwd, env=env, timeout=PAGE_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return len(run) - 1, f"the blocks did not finish within {PAGE_TIMEOUT} s"
    marker = proc.stdout.rfind("@@RESULT@@")
    if marker < 0:
        return len(run) - 1, f"the runner died (rc {proc.returncode}): {proc.stderr[-3000:]}"
    result = json.loads(proc.stdout[marker + len("@@RESULT@@"):])
    return int(result["index"]), result["error"]


@pytest.mark.parametrize("page", RUN_PAGES, ids=[str(p.relative_to(ROOT)) for p in RUN_PAGES])
def test_page_runs(page: Path, tmp_path: Path) -> None:
    """The page's ``python`` blocks run, in order, in one namespace, within the time limit, and leave nothing running."""
    run = [b for b in blocks(page) if b.info == "python"]
    index, why = run_blocks(run, tmp_path)
    if index >= 0:
        pytest.fail(f"{run[index].where}: {why}", pytrace=False)


def _page(tmp_path: Path, *codes: str) -> list[Block]:
    return [Block(tmp_path / "p.md", n + 1, "python", code, None) for n, code in enumerate(codes)]


@pytest.mark.parametrize("codes, failing, why", [
    (("x = 1", "assert x == 1", "import asyncio\nawait asyncio.sleep(0)"), -1, None),  # shared namespace, await
    (("x = 1", "assert x == 2"), 1, "AssertionError"),
    (("from streamcore.sse import encode_comment", "encode_comment('a\\nb')"), 1, "LocalProtocolError"),
    (("import threading, time", "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()"), 1,
     "thread(s) still running"),
    (("import asyncio", "srv = await asyncio.start_server(lambda r, w: None, '127.0.0.1', 0)"), 1, "still listening"),
    (("import asyncio", "srv = await asyncio.start_server(lambda r, w: None, '127.0.0.1', 0)",
      "srv.close()\nawait srv.wait_closed()"), -1, None),
])
def test_runner_catches(tmp_path: Path, codes: tuple[str, ...], failing: int, why: str | None) -> None:
    """The runner passes good pages and names the block and the reason for bad ones: a failed
    assertion, an exception, and a thread or a listening server left behind."""
    index, error = run_blocks(_page(tmp_path, *codes), tmp_path)
    assert index == failing, error
    if why is not None:
        assert error is not None and why in error, error


# -- the API reference ------------------------------------------------------------

#: Public names that have no docstring yet (``python docs/gen_api.py --missing``).
#: Their owners should add one; a public name missing from this list and
#: without a docstring fails the test below, so the list can only shrink.
KNOWN_UNDOCUMENTED = {
    "streamcore.store.MemoryEventStore.append",
    "streamcore.store.MemoryEventStore.replay_after",
    "streamcore.store.MemoryEventStore.drop_session",
    "streamcore.client.ClientState",
    "streamcore.client.EraCache.get",
    "streamcore.client.EraCache.set",
    "streamcore.client.EraCache.forget",
    "streamcore.http11.Http11Connection.request_complete",
    "streamcore.http11.RequestHead",
    "streamcore.aio.client.ClientSession.session_id",
    "streamcore.aio.client.ClientSession.protocol_version",
    "streamcore.aio.client.ClientSession.server_info",
    "streamcore.aio.client.ClientSession.ping",
    "streamcore.aio.client.ClientSession.call_tool",
    "streamcore.aio.client.OAuth.succeeded",
    "streamcore.mrtr.InputRequest.to_json",
    "streamcore.auth.OAuthClient.tokens_for",
    "streamcore.auth.OAuthClient.busy",
    "streamcore.auth.TokenStorage.get_tokens",
    "streamcore.auth.TokenStorage.set_tokens",
    "streamcore.auth.TokenStorage.get_client",
    "streamcore.auth.TokenStorage.set_client",
    "streamcore.auth.MemoryTokenStorage.get_tokens",
    "streamcore.auth.MemoryTokenStorage.set_tokens",
    "streamcore.auth.MemoryTokenStorage.get_client",
    "streamcore.auth.MemoryTokenStorage.set_client",
    "streamcore.auth.AuthorizationFailed",
    "streamcore.mcp_sdk.SdkApp.handle_request",
    "streamcore.mcp_sdk.SdkApp.handle_notification",
}


def _gen_api(*args: str) -> subprocess.CompletedProcess[str]:
    # A fresh interpreter: the generator must select the pure twins before streamcore is imported.
    return subprocess.run([sys.executable, str(ROOT / "docs" / "gen_api.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_api_reference_is_current() -> None:
    """``docs/api.md`` is what ``python docs/gen_api.py`` writes from today's docstrings."""
    proc = _gen_api("--check")
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_api_reference_covers_every_public_module() -> None:
    """Every public module has its section, and the page names no private module in a heading."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for mod in ("streamcore", "streamcore.server", "streamcore.client", "streamcore.events", "streamcore.store",
                "streamcore.era", "streamcore.http11", "streamcore.sse", "streamcore.chunked",
                "streamcore.jsonrpc", "streamcore.aio", "streamcore.aio.client", "streamcore.mrtr",
                "streamcore.auth", "streamcore.asgi", "streamcore.cors", "streamcore.web", "streamcore.mcp_sdk"):
        assert f"\n## `{mod}`\n" in text, mod
    assert not re.search(r"^#+ `streamcore\.(\w+\.)*_[a-z]", text, re.M)


def test_public_names_have_docstrings() -> None:
    """No public class, function, method or property lacks a docstring, except the known list
    above (printed, so that owners see what to add)."""
    proc = _gen_api("--missing")
    assert proc.returncode == 0, proc.stderr
    found = set(proc.stdout.split())
    print("public names without a docstring:", *sorted(found), sep="\n  ")
    new = found - KNOWN_UNDOCUMENTED
    assert not new, f"public names without a docstring: {sorted(new)} (add one, then run python docs/gen_api.py)"
