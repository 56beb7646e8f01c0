"""What an adapter answers before the core: static pages and CORS (sans-IO).

:class:`Front` looks at a request head and says one of three things: answer
it now with a complete response (a page, a CORS preflight), refuse it (an
``Origin`` the CORS policy does not allow: 403, SEC-02), or pass it to the
core, with the CORS header fields to add to whatever the core answers.
"""

from __future__ import annotations

from typing import Mapping

from ..cors import CorsPolicy

Headers = list[tuple[bytes, bytes]]
Answer = tuple[int, Headers, bytes]

#: ``Front.check`` verdict: refuse the request with 403 (Origin not allowed).
REFUSE = "refuse"
#: The body of that 403: the core's own answer to a refused Origin (SEC-02).
ORIGIN_REFUSED = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Forbidden: Origin not allowed"}}'
#: An adapter's whole response for REFUSE where it does not close the connection (HTTP/2, ASGI).
ORIGIN_REFUSED_ANSWER: Answer = (403, [(b"content-type", b"application/json"),
                                       (b"content-length", b"%d" % len(ORIGIN_REFUSED))], ORIGIN_REFUSED)

_PAGE_METHODS = (b"GET", b"HEAD")


class Front:
    """Static pages (``{path: (content type, body)}``) and a CORS policy, either optional."""

    __slots__ = ("cors", "pages")

    def __init__(self, cors: CorsPolicy | None, pages: Mapping[str, tuple[str, bytes]] | None) -> None:
        self.cors = cors
        self.pages: dict[bytes, Answer] = {}
        for path, (ctype, body) in (pages or {}).items():
            if not isinstance(path, str) or not path.startswith("/") or "?" in path:
                raise ValueError(f"a page path is an absolute path without a query: {path!r}")
            if not isinstance(body, bytes):
                raise TypeError(f"the body of page {path!r} must be bytes")
            self.pages[path.encode("latin-1")] = (200, [
                (b"content-type", ctype.encode("latin-1")), (b"content-length", b"%d" % len(body)),
                (b"cache-control", b"no-cache"), (b"x-content-type-options", b"nosniff"),
            ], body)

    def check(self, method: bytes, target: bytes, headers: Headers, *, scheme: str = "http") -> Answer | str | None:
        """An answer to send now, :data:`REFUSE`, or None (the core answers)."""
        cors = self.cors
        if cors is not None:
            if method == b"OPTIONS" and cors.is_preflight(method, headers):
                status, out = cors.preflight(headers)
                return status, out, b""
            if cors.refuses(headers, scheme=scheme):
                return REFUSE
        if self.pages:
            # Every request passes here (the MCP endpoint's too): no list, and no
            # copy of a target without a query.
            q = target.find(b"?")
            found = self.pages.get(target if q < 0 else target[:q])
            if found is not None:
                if method in _PAGE_METHODS:
                    return found
                return 405, [(b"allow", b"GET, HEAD"), (b"content-length", b"0")], b""
        return None

    def response_headers(self, headers: Headers) -> Headers | None:
        """The CORS header fields for the core's response to this request (None without a policy)."""
        return None if self.cors is None else self.cors.response_headers(headers)
