"""Results completed for their era, sans-IO: what the application seam can call.

The per-request era (2026-07-28) asks more of a result than the session era:

* every result carries ``resultType`` (spec 5.2, schema ``Result``);
* the results of the cacheable methods (SEP-2549, schema ``CacheableResult``:
  ``tools/list``, ``prompts/list``, ``resources/list``,
  ``resources/templates/list``, ``resources/read`` and ``server/discover``)
  carry ``ttlMs`` and ``cacheScope``.

:func:`complete_result_for_era` adds what the application left out, with the
safe defaults ``ttlMs=0`` ("immediately stale") and ``cacheScope="private"``
(never shared across authorization contexts), and leaves everything the
application wrote alone: members it set win, nested values (a tool's
``inputSchema`` with JSON Schema 2020-12 keywords such as ``$anchor``,
``allOf``, ``if``/``then``/``else``) are passed through as the very same
objects, and the caller's dict is never modified (a shallow copy is returned).

:func:`discover_result` builds a ``server/discover`` answer from declared
server information.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from . import jsonrpc as _jr
from ._errors import LocalProtocolError
from ._protocol import META_SERVER_INFO
from ._versions import ALL_VERSIONS, MODERN_VERSIONS

__all__ = [
    "CACHEABLE_METHODS",
    "DEFAULT_CACHE_SCOPE",
    "DEFAULT_TTL_MS",
    "complete_result_for_era",
    "discover_result",
    "with_result_type",
]

#: Methods whose 2026-07-28 results extend ``CacheableResult`` (SEP-2549).
CACHEABLE_METHODS: frozenset[str] = frozenset({
    "tools/list", "prompts/list", "resources/list", "resources/templates/list", "resources/read",
    "server/discover",
})
#: ``ttlMs`` when the application gives none: stale at once (no caching promised).
DEFAULT_TTL_MS = 0
#: ``cacheScope`` when the application gives none: the scope that is never wrong.
DEFAULT_CACHE_SCOPE = "private"

_RESULT_TYPE = {"resultType": "complete"}
_CACHE = {"ttlMs": DEFAULT_TTL_MS, "cacheScope": DEFAULT_CACHE_SCOPE}


def _splice(raw: bytes, members: Mapping[str, Any]) -> bytes | None:
    """``raw`` (a JSON object's text) with ``members`` added in front; None if it is no object.

    A member whose quoted name occurs anywhere in the text is not added: it is
    almost surely the top-level member, and a duplicate member would be worse
    than a missing one.
    """
    if raw[:1] != b"{":
        return None
    if b'"resultType"' in raw:
        return raw  # trusted as written (it may be an input_required result)
    add = [(k, v) for k, v in members.items() if b'"' + k.encode() + b'"' not in raw]
    if not add:
        return raw
    body = raw[1:].lstrip()
    head = b",".join(_member(k, v) for k, v in add)
    return b"{" + head + (b"" if body[:1] == b"}" else b",") + body


def _member(key: str, value: Any) -> bytes:
    # '"key":value' via the codec (one small encode per added member).
    enc: bytes = _jr.encode_result(0, {key: value})  # {"jsonrpc":"2.0","id":0,"result":{"key":value}}
    return enc[len(b'{"jsonrpc":"2.0","id":0,"result":{'):-2]


def with_result_type(result: Any) -> Any:
    """Spec 5.2: ``result`` with ``"resultType": "complete"`` when it lacks one.

    ``None`` becomes ``{"resultType": "complete"}``; a dict is copied; a
    :class:`~streamcore.jsonrpc.RawJson` object gets the member spliced in;
    anything else is returned as is.
    """
    return _complete(result, _RESULT_TYPE)


def _complete(result: Any, members: Mapping[str, Any]) -> Any:
    if result is None:
        return dict(members)
    if type(result) is dict:
        if result.get("resultType", "complete") != "complete":
            return result  # an input_required (or other) result is no CacheableResult
        missing = [k for k in members if k not in result]
        if not missing:
            return result
        out = {k: members[k] for k in missing if k == "resultType"}
        out.update(result)
        for k in missing:
            if k != "resultType":
                out[k] = members[k]
        return out
    if type(result) is _jr.RawJson:
        spliced = _splice(result.raw, members)
        if spliced is not None and spliced is not result.raw:
            return _jr.RawJson(spliced)
    return result


def complete_result_for_era(method: str, result: Any, version: str) -> Any:
    """``result`` as ``version`` requires it for ``method`` (module docstring).

    Session-era versions get the result unchanged. In 2026-07-28 every result
    gets ``resultType``; the cacheable methods also get ``ttlMs`` and
    ``cacheScope`` when absent.
    """
    if version not in MODERN_VERSIONS:
        return result
    if method in CACHEABLE_METHODS:
        return _complete(result, {**_RESULT_TYPE, **_CACHE})
    return _complete(result, _RESULT_TYPE)


def discover_result(
    supported_versions: Sequence[str] = ALL_VERSIONS,
    capabilities: Mapping[str, Any] | None = None,
    *,
    server_info: Mapping[str, Any] | None = None,
    instructions: str | None = None,
    ttl_ms: int = 0,
    cache_scope: str = "public",
) -> dict[str, Any]:
    """A conformant ``server/discover`` result (SRV-VER-10; schema ``DiscoverResult``).

    ``supported_versions`` should list every version the endpoint serves,
    legacy ones included (as the ``versioning.mdx`` examples do).
    ``DiscoverResult`` extends ``CacheableResult``, so ``ttlMs`` and
    ``cacheScope`` are required; the default ``ttlMs=0`` means "immediately
    stale". ``server_info`` (``{"name", "version"}``) goes in
    ``_meta["io.modelcontextprotocol/serverInfo"]`` (SHOULD).
    """
    if type(ttl_ms) is not int or ttl_ms < 0:
        raise LocalProtocolError("ttl_ms must be an int >= 0")
    if cache_scope not in ("public", "private"):
        raise LocalProtocolError("cache_scope is 'public' or 'private'")
    out: dict[str, Any] = {
        "resultType": "complete",
        "supportedVersions": list(supported_versions),
        "capabilities": dict(capabilities or {}),
        "ttlMs": ttl_ms,
        "cacheScope": cache_scope,
    }
    if server_info is not None:
        out["_meta"] = {META_SERVER_INFO: dict(server_info)}
    if instructions is not None:
        out["instructions"] = instructions
    return out
