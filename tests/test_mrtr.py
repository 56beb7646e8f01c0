"""MRTR (SEP-2322) sans-IO: sealing ``requestState`` and the rounds of one request (``streamcore.mrtr``)."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamcore import LocalProtocolError, RemoteProtocolError
from streamcore.mrtr import (
    DEFAULT_MAX_STATE_BYTES,
    MIN_KEY_BYTES,
    InputRequest,
    InputRequired,
    InputRound,
    InvalidInputResponse,
    StateSealer,
)

KEY = b"k" * 32
OTHER = b"o" * 32
NOW = 1_700_000_000.0

ASK_NAME = InputRequest(method="elicitation/create", params={"message": "Name?", "requestedSchema": {"type": "object"}})


def _params(**extra: object) -> dict:
    return {"name": "greet", "arguments": {"lang": "en"}, "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"},
            **extra}


def _reason(exc: pytest.ExceptionInfo[InvalidInputResponse]) -> str:
    return exc.value.reason


# -- StateSealer --------------------------------------------------------------


def test_seal_open_round_trip() -> None:
    s = StateSealer(KEY)
    token = s.seal({"a": [1, "two", None], "b": {"c": True}}, now=NOW)
    assert token.startswith("v1.") and token.count(".") == 2
    assert s.open(token, now=NOW + 1) == {"a": [1, "two", None], "b": {"c": True}}


def test_tampered_state_is_rejected() -> None:
    s = StateSealer(KEY)
    token = s.seal({"a": 1}, now=NOW)
    for bad in (token + "-TAMPERED", token[:-1] + ("A" if token[-1] != "A" else "B"), "v1.x.y", "garbage", ""):
        with pytest.raises(InvalidInputResponse) as exc:
            s.open(bad, now=NOW)
        assert _reason(exc) == "tampered"
    # A payload swapped for another (with the old MAC) does not open.
    head, _, mac = token.split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"a": 2}).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidInputResponse) as exc:
        s.open(f"{head}.{forged}.{mac}", now=NOW)
    assert _reason(exc) == "tampered"


@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_any_single_byte_change_is_rejected(pos: int, byte: int) -> None:
    s = StateSealer(KEY)
    token = s.seal({"answers": {"user_name": {"action": "accept"}}}, now=NOW)
    i = pos % len(token)
    if ord(token[i]) == byte:
        return
    bad = token[:i] + chr(byte) + token[i + 1:]
    with pytest.raises(InvalidInputResponse):  # tokens are canonical: no two texts open alike
        s.open(bad, now=NOW)


def test_a_state_from_another_key_is_rejected_and_keys_rotate() -> None:
    old = StateSealer(OTHER)
    token = old.seal({"a": 1}, now=NOW)
    with pytest.raises(InvalidInputResponse) as exc:
        StateSealer(KEY).open(token, now=NOW)
    assert _reason(exc) == "tampered"
    rotated = StateSealer([KEY, OTHER])  # new key first: seals with KEY, still opens OTHER's
    assert rotated.open(token, now=NOW) == {"a": 1}
    assert StateSealer(KEY).open(rotated.seal({"b": 2}, now=NOW), now=NOW) == {"b": 2}


def test_expired_state_is_rejected() -> None:
    s = StateSealer(KEY, ttl=60)
    token = s.seal({"a": 1}, now=NOW)
    assert s.open(token, now=NOW + 60) == {"a": 1}
    with pytest.raises(InvalidInputResponse) as exc:
        s.open(token, now=NOW + 62)
    assert _reason(exc) == "expired"
    forever = StateSealer(KEY, ttl=None)
    assert forever.open(forever.seal({"a": 1}, now=NOW), now=NOW + 1e9) == {"a": 1}


def test_state_size_is_bounded_both_ways() -> None:
    s = StateSealer(KEY, max_state_bytes=200)
    ok = s.seal({"v": "x" * 50}, now=NOW)
    assert len(ok) <= 200
    with pytest.raises(LocalProtocolError, match="exceeds max_state_bytes=200"):
        s.seal({"v": "x" * 500}, now=NOW)
    big = StateSealer(KEY).seal({"v": "x" * 500}, now=NOW)  # sealed by a laxer instance
    with pytest.raises(InvalidInputResponse) as exc:
        s.open(big, now=NOW)
    assert _reason(exc) == "oversize"
    # The boundary: a token of exactly max_state_bytes opens.
    for n in range(0, 200):
        try:
            t = s.seal({"v": "x" * n}, now=NOW)
        except LocalProtocolError:
            break
        last = t
    assert len(last) <= 200 and s.open(last, now=NOW)["v"].startswith("x")
    assert DEFAULT_MAX_STATE_BYTES == 16 * 1024


def test_open_rejects_non_strings() -> None:
    s = StateSealer(KEY)
    for bad in (None, 1, ["v1"], {"a": 1}):
        with pytest.raises(InvalidInputResponse) as exc:
            s.open(bad, now=NOW)
        assert _reason(exc) == "malformed"


def test_sealer_config_is_validated() -> None:
    with pytest.raises(LocalProtocolError):
        StateSealer(b"short")
    with pytest.raises(LocalProtocolError):
        StateSealer([])
    with pytest.raises(LocalProtocolError):
        StateSealer(KEY, ttl=0)
    with pytest.raises(LocalProtocolError):
        StateSealer(KEY, max_state_bytes=10)
    StateSealer(b"x" * MIN_KEY_BYTES)


def test_ephemeral_keys_differ() -> None:
    a, b = StateSealer.ephemeral(), StateSealer.ephemeral()
    with pytest.raises(InvalidInputResponse):
        b.open(a.seal({"x": 1}, now=NOW), now=NOW)


def test_invalid_input_response_is_a_remote_error_with_code() -> None:
    exc = InvalidInputResponse("nope", reason="tampered")
    assert isinstance(exc, RemoteProtocolError)
    assert exc.code_hint == -32602 and exc.status_hint == 400


# -- InputRound ------------------------------------------------------------------------


def test_first_round_asks_then_the_retry_answers() -> None:
    s = StateSealer(KEY)
    r1 = InputRound.open("tools/call", _params(), s, now=NOW)
    assert not r1.is_retry and r1.take("user_name") is None
    result = r1.input_required({"user_name": ASK_NAME}, s, now=NOW)
    assert result["resultType"] == "input_required"
    assert result["inputRequests"] == {"user_name": {"method": "elicitation/create", "params": ASK_NAME.params}}
    retry = _params(inputResponses={"user_name": {"action": "accept", "content": {"name": "Alice"}}},
                    requestState=result["requestState"])
    r2 = InputRound.open("tools/call", retry, s, now=NOW + 1)
    assert r2.is_retry
    assert r2.take("user_name") == {"action": "accept", "content": {"name": "Alice"}}


def test_multi_round_carries_earlier_answers_in_the_state_only() -> None:
    s = StateSealer(KEY)
    r1 = InputRound.open("tools/call", _params(), s, now=NOW)
    assert r1.take("step1") is None
    st1 = r1.input_required({"step1": ASK_NAME}, s, now=NOW)["requestState"]
    r2 = InputRound.open("tools/call", _params(inputResponses={"step1": {"n": 1}}, requestState=st1), s, now=NOW)
    assert r2.take("step1") == {"n": 1} and r2.take("step2") is None
    st2 = r2.input_required({"step2": ASK_NAME}, s, now=NOW)["requestState"]
    assert st2 != st1
    # Round 3 answers only step2; step1 comes back from the state.
    r3 = InputRound.open("tools/call", _params(inputResponses={"step2": {"n": 2}}, requestState=st2), s, now=NOW)
    assert r3.take("step1") == {"n": 1} and r3.take("step2") == {"n": 2}


def test_state_answers_win_over_a_changed_resend() -> None:
    s = StateSealer(KEY)
    r1 = InputRound.open("tools/call", _params(inputResponses={"a": {"v": 1}}), s, now=NOW)
    assert r1.take("a") == {"v": 1}
    st1 = r1.input_required({"b": ASK_NAME}, s, now=NOW)["requestState"]
    r2 = InputRound.open("tools/call", _params(inputResponses={"a": {"v": 9}, "b": {}}, requestState=st1), s, now=NOW)
    assert r2.take("a") == {"v": 1}


def test_handler_state_travels_sealed() -> None:
    s = StateSealer(KEY)
    r1 = InputRound.open("prompts/get", {"name": "p"}, s, now=NOW)
    r1.state["step"] = 3
    st1 = r1.input_required({"k": ASK_NAME}, s, now=NOW)["requestState"]
    r2 = InputRound.open("prompts/get", {"name": "p", "requestState": st1}, s, now=NOW)
    assert r2.state == {"step": 3}


def test_a_state_for_another_request_is_rejected() -> None:
    s = StateSealer(KEY)
    r1 = InputRound.open("tools/call", _params(), s, now=NOW)
    st1 = r1.input_required({"k": ASK_NAME}, s, now=NOW)["requestState"]
    for method, params in (
        ("tools/call", {"name": "greet", "arguments": {"lang": "fr"}, "requestState": st1}),  # other arguments
        ("tools/call", {"name": "other", "arguments": {"lang": "en"}, "requestState": st1}),  # other tool
        ("prompts/get", {"name": "greet", "arguments": {"lang": "en"}, "requestState": st1}),  # other method
    ):
        with pytest.raises(InvalidInputResponse) as exc:
            InputRound.open(method, params, s, now=NOW)
        assert _reason(exc) == "foreign"
    # _meta does not bind: a retry may carry other per-request metadata.
    InputRound.open("tools/call", {"name": "greet", "arguments": {"lang": "en"}, "_meta": {"x": 1},
                                   "requestState": st1}, s, now=NOW)


def test_input_responses_are_validated() -> None:
    s = StateSealer(KEY)
    for bad in (None, [], "x", 5):
        with pytest.raises(InvalidInputResponse) as exc:
            InputRound.open("tools/call", _params(inputResponses=bad), s, now=NOW)
        assert _reason(exc) == "bad-response"
    with pytest.raises(InvalidInputResponse) as exc:
        InputRound.open("tools/call", _params(inputResponses={"user_name": 12345}), s, now=NOW)
    assert _reason(exc) == "bad-response" and "user_name" in str(exc.value)


def test_unrequested_answers_are_kept_out_of_the_next_state() -> None:
    s = StateSealer(KEY)
    r = InputRound.open("tools/call", _params(inputResponses={"junk": {"x": "y" * 1000}}), s, now=NOW)
    token = r.input_required({"k": ASK_NAME}, s, now=NOW)["requestState"]
    assert len(token) < 300  # only used answers are carried


def test_input_request_and_input_required_validate() -> None:
    with pytest.raises(LocalProtocolError):
        InputRequest(method="")
    with pytest.raises(LocalProtocolError):
        InputRequest(method="roots/list", params=[1])  # type: ignore[arg-type]
    assert InputRequest(method="roots/list").to_json() == {"method": "roots/list", "params": {}}
    with pytest.raises(LocalProtocolError):
        InputRequired({})
    with pytest.raises(LocalProtocolError):
        InputRequired({"k": {"method": "roots/list"}})  # type: ignore[dict-item]
    exc = InputRequired({"k": ASK_NAME})
    assert not isinstance(exc, Exception)  # `except Exception` in a handler lets it through
    with pytest.raises(LocalProtocolError):
        InputRound.open("tools/call", {}, StateSealer(KEY), now=NOW).input_required({}, StateSealer(KEY), now=NOW)
