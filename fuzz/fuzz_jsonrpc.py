"""JSON-RPC parser: any body gives equal results from both twins, or
JsonRpcDecodeError from both with the same hints (never another exception)."""

from __future__ import annotations

import _common

with _common.instrumented():
    from streamcore.jsonrpc import JsonRpcDecodeError
    TWINS = _common.twins("jsonrpc")




def run(mod, data: bytes, batch: bool) -> object:
    try:
        return repr(mod.parse(data, allow_batch=batch, max_body_size=1 << 20))
    except JsonRpcDecodeError as exc:
        return ("error", exc.code_hint, exc.status_hint)


def target(data: bytes) -> None:
    for batch in (False, True):
        results = [run(m, data, batch) for m in TWINS]
        assert all(r == results[0] for r in results), results


if __name__ == "__main__":
    _common.main(target, "jsonrpc")
