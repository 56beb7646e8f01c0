"""streamcore.web: the browser client page that ``python -m streamcore serve`` shows at ``/``.

The page (``index.html``, plain HTML and JavaScript, no build step) is an MCP
client: it connects to the endpoint, lists the tools, calls one with a
progress bar, shows the listening stream live and recovers after a server
restart, in either protocol era. ``docs/browser.md`` is its guide.

Serve it from your own asyncio server with the ``pages`` hook of
:class:`streamcore.aio.server.StreamableHttpServer` (or of
:func:`streamcore.aio.server.serve`)::

    StreamableHttpServer(app, config, pages=streamcore.web.demo_pages())

A page is a ``(content type, body)`` pair keyed by its path: the adapter
answers ``GET`` and ``HEAD`` for that path itself (``405`` for any other
method), before the MCP endpoint sees the request.
"""

from __future__ import annotations

from importlib.resources import files

__all__ = ["PAGE_CONTENT_TYPE", "page", "demo_pages"]

#: The content type of :func:`page`.
PAGE_CONTENT_TYPE = "text/html; charset=utf-8"


def page() -> bytes:
    """The client page's bytes (``index.html``, shipped as package data)."""
    return files(__name__).joinpath("index.html").read_bytes()


def demo_pages(path: str = "/") -> dict[str, tuple[str, bytes]]:
    """``{path: (content type, body)}`` with the client page at ``path``, for the ``pages`` hook."""
    if not path.startswith("/"):
        raise ValueError(f"a page path starts with '/': {path!r}")
    return {path: (PAGE_CONTENT_TYPE, page())}
