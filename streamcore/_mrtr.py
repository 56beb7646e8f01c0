"""Multi-round-trip requests (MRTR, SEP-2322) for the 2026-07-28 era, sans-IO.

In 2026-07-28 a server never sends a request to the client. A handler that
needs input (an elicitation, a sampling, the client's roots) answers its
request with an ``InputRequiredResult``::

    {"resultType": "input_required",
     "inputRequests": {"user_name": {"method": "elicitation/create", "params": {...}}},
     "requestState": "<opaque>"}

and the client sends the same request again (a new JSON-RPC id) with
``params.inputResponses`` (``{"user_name": <ElicitResult>}``) and the echoed
``params.requestState``. This module is the server's half of that, without I/O:

* :class:`StateSealer` seals and opens ``requestState``: the state is JSON,
  base64url-encoded and authenticated with HMAC-SHA256 under a server key
  (several keys may verify, the first one seals, so keys can be rotated).
  A tampered, foreign, expired or oversized state is rejected with
  :class:`InvalidInputResponse` (JSON-RPC -32602). Nothing is kept on the
  server between rounds: any instance holding the key can continue a request.
* :class:`InputRound` is one round of one request: it opens the state, checks
  that it was issued for this very request (method and parameters, apart from
  ``_meta``, ``inputResponses`` and ``requestState``), and holds the answers
  known so far (carried in the state from earlier rounds, plus this round's
  ``inputResponses``). :meth:`InputRound.input_required` builds the next
  ``InputRequiredResult``, carrying every answer the handler used so far.
* :class:`InputRequired` is what a handler raises (directly, or through the
  asyncio adapter's ``RequestContext.request``) when an answer is missing; it
  derives from ``BaseException`` so that an ``except Exception`` in
  application code does not swallow it.

The handler is re-run from the top on each round, so it must be
deterministic up to the point where it asks (the answers it got before
are replayed to it in order); it may keep small values across rounds in
:attr:`InputRound.state` (carried, sealed, in ``requestState``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ._errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "StateSealer",
    "InputRound",
    "InputRequest",
    "InputRequired",
    "InvalidInputResponse",
    "MRTR_METHODS",
    "INPUT_CAPABILITIES",
    "DEFAULT_MAX_STATE_BYTES",
    "DEFAULT_STATE_TTL",
    "MIN_KEY_BYTES",
]

#: Requests a server may answer with an ``InputRequiredResult`` (SEP-2322).
MRTR_METHODS: frozenset[str] = frozenset({"tools/call", "prompts/get", "resources/read", "tasks/result"})

#: Input request method -> the client capability it needs (``clientCapabilities`` key).
INPUT_CAPABILITIES: Mapping[str, str] = {
    "elicitation/create": "elicitation",
    "sampling/createMessage": "sampling",
    "roots/list": "roots",
}

#: Characters a sealed ``requestState`` may have, both ways: a larger state is
#: not sealed (the handler's request fails with -32603) and a larger token from
#: a client is rejected (-32602) before it is decoded.
DEFAULT_MAX_STATE_BYTES = 16 * 1024
#: Seconds a sealed state stays valid (None: no expiry).
DEFAULT_STATE_TTL = 600.0
#: The shortest HMAC key accepted.
MIN_KEY_BYTES = 16

_VERSION = "v1"
_INVALID_PARAMS = -32602
_NOT_BOUND = ("_meta", "inputResponses", "requestState")


class InvalidInputResponse(RemoteProtocolError):
    """A retry's ``requestState`` or ``inputResponses`` is not acceptable.

    Answered with JSON-RPC -32602 (Invalid params), HTTP 400 on a 2026-07-28
    request that has not started streaming. ``reason`` is one of
    ``"malformed"``, ``"tampered"``, ``"expired"``, ``"oversize"``,
    ``"foreign"`` (issued for another request) or ``"bad-response"``.
    """

    code_hint = _INVALID_PARAMS

    def __init__(self, msg: str, *, reason: str) -> None:
        super().__init__(msg, status_hint=400)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class InputRequest:
    """One input the server asks the client for: a client method and its params."""

    method: str
    params: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.method, str) or not self.method:
            raise LocalProtocolError("InputRequest.method must be a non-empty str")
        if self.params is not None and not isinstance(self.params, dict):
            raise LocalProtocolError("InputRequest.params must be a dict or None")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method}
        out["params"] = self.params if self.params is not None else {}
        return out


class InputRequired(BaseException):
    """Raised by a handler that cannot finish without these inputs (key -> request).

    A ``BaseException``, like ``asyncio.CancelledError``, so that application
    code catching ``Exception`` lets it through to the adapter.
    """

    def __init__(self, requests: Mapping[str, InputRequest]) -> None:
        if not requests:
            raise LocalProtocolError("InputRequired needs at least one input request")
        for k, r in requests.items():
            if not isinstance(k, str) or not k:
                raise LocalProtocolError("input request keys are non-empty strs")
            if not isinstance(r, InputRequest):
                raise LocalProtocolError("input requests are InputRequest objects")
        super().__init__(", ".join(requests))
        self.requests: dict[str, InputRequest] = dict(requests)


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def _b64d(text: str) -> bytes:
    """Strict unpadded base64url: only the alphabet, and only the canonical text of its bytes."""
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64e(raw) != text:
        raise ValueError("not canonical base64url")
    return raw


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class StateSealer:
    """Seals and opens ``requestState`` with HMAC-SHA256.

    ``keys``: one key, or several (the first seals, any verifies: add the new
    key in front, drop the old one after ``ttl``). Every instance that may
    continue a request needs the same keys. ``ttl``: seconds a state stays
    valid (None: forever). ``max_state_bytes``: see
    :data:`DEFAULT_MAX_STATE_BYTES`.
    """

    __slots__ = ("_keys", "ttl", "max_state_bytes")

    def __init__(
        self,
        keys: bytes | Sequence[bytes],
        *,
        ttl: float | None = DEFAULT_STATE_TTL,
        max_state_bytes: int = DEFAULT_MAX_STATE_BYTES,
    ) -> None:
        ks = [keys] if isinstance(keys, (bytes, bytearray)) else list(keys)
        if not ks:
            raise LocalProtocolError("StateSealer needs at least one key")
        for k in ks:
            if not isinstance(k, (bytes, bytearray)) or len(k) < MIN_KEY_BYTES:
                raise LocalProtocolError(f"StateSealer keys are bytes of at least {MIN_KEY_BYTES}")
        if ttl is not None and not ttl > 0:
            raise LocalProtocolError("ttl must be > 0 or None")
        if max_state_bytes < 64:
            raise LocalProtocolError("max_state_bytes must be >= 64")
        self._keys = [bytes(k) for k in ks]
        self.ttl = ttl
        self.max_state_bytes = max_state_bytes

    @classmethod
    def ephemeral(cls, *, ttl: float | None = DEFAULT_STATE_TTL,
                  max_state_bytes: int = DEFAULT_MAX_STATE_BYTES) -> "StateSealer":
        """A random key known to this process only: right for one instance, not for several."""
        return cls(os.urandom(32), ttl=ttl, max_state_bytes=max_state_bytes)

    def _mac(self, key: bytes, signed: bytes) -> bytes:
        return hmac.new(key, signed, hashlib.sha256).digest()

    def seal(self, payload: Mapping[str, Any], *, now: float) -> str:
        """An opaque token for ``payload`` (a JSON object); ``now`` is wall-clock seconds.

        Raises :class:`LocalProtocolError` when the token would exceed
        ``max_state_bytes`` or the payload is not JSON.
        """
        body = dict(payload)
        if self.ttl is not None:
            body["exp"] = int(now + self.ttl) + 1
        try:
            raw = _canonical(body)
        except (TypeError, ValueError) as exc:
            raise LocalProtocolError(f"request state is not JSON: {exc}") from exc
        signed = f"{_VERSION}.{_b64e(raw)}"
        token = f"{signed}.{_b64e(self._mac(self._keys[0], signed.encode('ascii')))}"
        if len(token) > self.max_state_bytes:
            raise LocalProtocolError(
                f"request state of {len(token)} bytes exceeds max_state_bytes={self.max_state_bytes}"
            )
        return token

    def open(self, token: Any, *, now: float) -> dict[str, Any]:
        """The payload sealed in ``token``; raises :class:`InvalidInputResponse` otherwise."""
        if not isinstance(token, str):
            raise InvalidInputResponse("requestState must be a string", reason="malformed")
        if len(token) > self.max_state_bytes:
            raise InvalidInputResponse(
                f"requestState exceeds {self.max_state_bytes} bytes", reason="oversize"
            )
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != _VERSION:
            raise InvalidInputResponse("requestState is not a state this server issued", reason="tampered")
        signed = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
        try:
            mac = _b64d(parts[2])
            raw = _b64d(parts[1])
        except (binascii.Error, ValueError):
            raise InvalidInputResponse("requestState failed its integrity check", reason="tampered") from None
        if not any(hmac.compare_digest(mac, self._mac(k, signed)) for k in self._keys):
            raise InvalidInputResponse("requestState failed its integrity check", reason="tampered")
        try:
            body = json.loads(raw)
        except ValueError:  # cannot happen for a state we sealed
            raise InvalidInputResponse("requestState failed its integrity check", reason="tampered") from None
        if not isinstance(body, dict):
            raise InvalidInputResponse("requestState failed its integrity check", reason="tampered")
        exp = body.pop("exp", None)
        if exp is not None and (not isinstance(exp, (int, float)) or now > exp):
            raise InvalidInputResponse("requestState has expired; send the request again without it",
                                       reason="expired")
        return body


def _binding(method: str, params: Mapping[str, Any]) -> str:
    """What ties a state to its request: the method and the params that are not MRTR's own."""
    bound = {k: v for k, v in params.items() if k not in _NOT_BOUND}
    return _b64e(hashlib.sha256(_canonical([method, bound])).digest()[:18])


@dataclass(slots=True, kw_only=True)
class InputRound:
    """One round of one request; build it with :meth:`open`.

    ``answers``: every answer known in this round (earlier rounds' first,
    then this round's ``inputResponses`` for keys not answered before).
    ``state``: small JSON values the handler keeps across rounds.
    ``is_retry``: the request carried ``inputResponses`` or ``requestState``.
    """

    method: str
    binding: str
    answers: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    is_retry: bool = False
    used: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, method: str, params: Any, sealer: StateSealer, *, now: float) -> "InputRound":
        """Read ``params.requestState`` and ``params.inputResponses`` of a request.

        Raises :class:`InvalidInputResponse` for a state that does not open
        or belongs to another request, and for ``inputResponses`` that is not
        an object of objects.
        """
        p = params if isinstance(params, dict) else {}
        rnd = cls(method=method, binding=_binding(method, p))
        token = p.get("requestState")
        responses = p.get("inputResponses", None)
        rnd.is_retry = "requestState" in p or "inputResponses" in p
        if token is not None:
            body = sealer.open(token, now=now)
            if body.get("b") != rnd.binding:
                raise InvalidInputResponse("requestState was issued for another request", reason="foreign")
            carried = body.get("r")
            kept = body.get("s")
            if not isinstance(carried, dict) or not isinstance(kept, dict):
                raise InvalidInputResponse("requestState failed its integrity check", reason="tampered")
            rnd.answers.update(carried)
            rnd.state.update(kept)
        if "inputResponses" in p:
            if not isinstance(responses, dict):
                raise InvalidInputResponse("inputResponses must be an object", reason="bad-response")
            for key, value in responses.items():
                if not isinstance(value, dict):
                    raise InvalidInputResponse(
                        f"inputResponses[{key!r}] must be an object (the result of the input request)",
                        reason="bad-response",
                    )
                rnd.answers.setdefault(key, value)
        return rnd

    def take(self, key: str) -> Any | None:
        """The answer for ``key`` (and remember that the handler used it), or None if missing."""
        if key in self.answers:
            value = self.answers[key]
            self.used[key] = value
            return value
        return None

    def input_required(self, requests: Mapping[str, InputRequest], sealer: StateSealer, *, now: float) -> dict[str, Any]:
        """The ``InputRequiredResult`` asking for ``requests``, with every used answer sealed in."""
        if not requests:
            raise LocalProtocolError("input_required needs at least one input request")
        token = sealer.seal({"b": self.binding, "r": self.used, "s": self.state}, now=now)
        return {
            "resultType": "input_required",
            "inputRequests": {k: r.to_json() for k, r in requests.items()},
            "requestState": token,
        }
