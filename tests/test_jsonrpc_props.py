"""JSON-RPC codec: property tests (round trip, twin equivalence, totality).

The pure twin is the reference: on every input the compiled twin must return an
equal ``Parsed`` or raise the same exception type with the same ``code_hint``
and ``status_hint``.
"""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _twins import twins
from streamcore._errors import JsonRpcDecodeError

CODEC = "jsonrpc"
TWINS = twins(CODEC)
PY = TWINS[0]

# Bounded so the file runs in about 15 s per twin on a shared 2-core machine;
# the cheap differential tests get more examples than the generation-heavy ones.
# STREAMCORE_HYPOTHESIS_SCALE multiplies every budget for a deeper local run.
_SCALE = float(os.environ.get("STREAMCORE_HYPOTHESIS_SCALE", "1"))
SETTINGS = settings(max_examples=int(150 * _SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings(max_examples=int(1000 * _SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- strategies ---------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
values = st.recursive(
    scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=8), kids, max_size=4)),
    max_leaves=12,
)
objects = st.dictionaries(st.text(max_size=8), values, max_size=4)
ids = st.one_of(st.text(max_size=10), st.integers(min_value=-(10**25), max_value=10**25))
methods = st.text(min_size=1, max_size=16)


def messages(mcp: bool):
    params = objects if mcp else st.one_of(objects, st.lists(values, max_size=4))
    opt_params = st.one_of(st.none(), params)
    result = objects if mcp else values
    return st.one_of(
        st.builds(PY.Request, ids, methods, opt_params),
        st.builds(PY.Notification, methods, opt_params),
        st.builds(PY.Response, ids, result),
        st.builds(
            PY.ErrorResponse,
            st.one_of(st.none(), ids),
            st.integers(min_value=-(2**40), max_value=2**40),
            st.text(max_size=20),
            st.one_of(st.none(), values.filter(lambda v: v is not None)),
        ),
    )


CORPUS = [
    b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"a":[1,2.5,"\\u00e9"]}}}',
    b'{"jsonrpc":"2.0","method":"notifications/initialized"}',
    b'{"jsonrpc":"2.0","id":"7","result":{"content":[{"type":"text","text":"hi \\"there\\"\\n"}],"isError":false}}',
    b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"bad","data":[true,false,null]}}',
    b'[{"jsonrpc":"2.0","id":1.5,"method":"a","params":[1e2]},{"jsonrpc":"2.0","method":"b"},7]',
    b'\xef\xbb\xbf {"jsonrpc" : "2.0" , "id" : -0 , "method" : "\\ud83d\\ude00" }',
    b'{"jsonrpc":"2.0","id":9007199254740993,"method":"m","x":{"y":{"z":[[]]}},"x":1}',
]
TOKENS = [b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\", b"\\u", b"d800", b"1", b"-", b".", b"e", b" ", b"\n",
          b"true", b"null", b"\xff", b"\xc3\xa9", b"\x00", b'"id"', b'"jsonrpc"', b'"2.0"', b'"method"',
          b'"params"', b'"result"', b'"error"']


@st.composite
def mutated(draw):
    """A corpus body with a few random edits (insert / delete / replace)."""
    body = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(body)))
        op = draw(st.integers(0, 2))
        if op == 0:
            body[pos:pos] = draw(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=3)))
        elif op == 1:
            del body[pos : pos + draw(st.integers(1, 3))]
        else:
            body[pos : pos + 1] = draw(st.sampled_from(TOKENS))
    return bytes(body)


jsonish = st.one_of(
    mutated(),
    st.binary(max_size=40),
    st.lists(st.sampled_from(TOKENS), max_size=25).map(b"".join),
)
options = st.fixed_dictionaries(
    {"allow_batch": st.booleans(), "mcp": st.booleans(), "lazy": st.booleans(), "allow_bom": st.booleans()},
    optional={"max_depth": st.integers(1, 6)},
)


def outcome(impl, body, **kw):
    """What parse makes of a body: ("ok", Parsed) or ("err", type, code, status)."""
    try:
        return ("ok", impl.parse(body, **kw))
    except JsonRpcDecodeError as exc:
        return ("err", type(exc), exc.code_hint, exc.status_hint)


# --- properties -------------------------------------------------------------------


@SETTINGS
@given(data=st.data(), mcp=st.booleans())
def test_round_trip(impl, data, mcp):
    """encode -> parse gives back an equal message (full and lazy, where comparable)."""
    msg = data.draw(messages(mcp))
    body = impl.encode(msg)
    assert impl.parse(body, allow_batch=False, mcp=mcp).messages == [msg]
    json.loads(body)  # and it is plain JSON
    lazy = impl.parse(body, allow_batch=False, mcp=mcp, lazy=True).messages[0]
    assert type(lazy) is type(msg)
    assert impl.encode(lazy) == body  # lazy spans splice back byte-exact


@SETTINGS
@given(msgs=st.lists(messages(False), min_size=1, max_size=5))
def test_batch_round_trip(impl, msgs):
    """encode_batch -> parse gives the same messages, in order, as a batch."""
    parsed = impl.parse(impl.encode_batch(msgs), allow_batch=True, mcp=False)
    assert parsed.is_batch and parsed.messages == msgs


@SETTINGS
@given(value=values, ensure_ascii=st.booleans(), indent=st.sampled_from([None, 1]))
def test_decode_value_matches_json_loads(impl, value, ensure_ascii, indent):
    """On valid JSON without duplicates, decode_value agrees with json.loads."""
    text = json.dumps(value, ensure_ascii=ensure_ascii, indent=indent).encode()
    assert impl.decode_value(text) == json.loads(text)


@FUZZ
@given(body=jsonish, kw=options)
def test_twins_agree_on_garbage(body, kw):
    """Both twins give equal results or the same error on random JSON-ish bytes."""
    results = [outcome(impl, body, **kw) for impl in TWINS]
    assert all(r == results[0] for r in results)


@FUZZ
@given(body=jsonish)
def test_twins_agree_on_decode_value(body):
    """decode_value: equal values or the same error code from both twins."""
    results = []
    for impl in TWINS:
        try:
            results.append(("ok", impl.decode_value(body)))
        except JsonRpcDecodeError as exc:
            results.append(("err", exc.code_hint))
    # NaN never decodes, so == is a sound comparison
    assert all(r == results[0] for r in results)


@FUZZ
@given(body=jsonish, kw=options)
def test_garbage_raises_only_decode_error(impl, body, kw):
    """Any bytes: a Parsed, or JsonRpcDecodeError, never anything else."""
    try:
        parsed = impl.parse(body, **kw)
    except JsonRpcDecodeError as exc:
        assert exc.code_hint in (-32700, -32600) and exc.status_hint in (400, 413)
        return
    assert parsed.messages and all(
        type(m) in (impl.Request, impl.Notification, impl.Response, impl.ErrorResponse, impl.Invalid)
        for m in parsed.messages
    )


@FUZZ
@given(body=mutated(), mcp=st.booleans())
def test_lazy_agrees_with_full(impl, body, mcp):
    """When full parsing succeeds, lazy parsing succeeds with the same messages once decoded."""
    try:
        full = impl.parse(body, allow_batch=True, mcp=mcp)
    except JsonRpcDecodeError:
        return
    lazy = impl.parse(body, allow_batch=True, mcp=mcp, lazy=True)
    assert lazy.is_batch == full.is_batch and len(lazy.messages) == len(full.messages)
    for lm, fm in zip(lazy.messages, full.messages):
        if type(fm) is impl.Invalid and fm.message.endswith("duplicate member name"):
            continue  # lazy mode defers duplicates inside params/result
        if type(lm) in (impl.Request, impl.Notification) and type(lm.params) is impl.RawJson:
            lm = lm._replace(params=impl.decode_value(lm.params.raw))
        if type(lm) is impl.Response and type(lm.result) is impl.RawJson:
            lm = lm._replace(result=impl.decode_value(lm.result.raw))
        assert lm == fm


any_values = st.recursive(
    st.one_of(
        scalars,
        st.floats(),  # NaN and infinities: refused identically
        st.integers(min_value=-(10**60), max_value=10**60),
        st.text(alphabet=st.characters(codec=None), max_size=12),  # lone surrogates too
        st.text(alphabet=st.sampled_from('"\\\x00\x01\x1f\x7f\n\r\t\b\féa'), max_size=12),
    ),
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.lists(kids, max_size=3).map(tuple),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers(), st.booleans(), st.none()), kids, max_size=4),
    ),
    max_leaves=12,
)


def encoded(impl, value):
    """encode_result's bytes, or the exception type it raises."""
    try:
        return impl.encode_result(1, value)
    except Exception as exc:  # noqa: BLE001 - compared across twins
        return type(exc)


@SETTINGS
@given(value=any_values)
def test_twins_encode_identically(value):
    """Both twins' encoders give the same bytes, or the same error, for any value."""
    results = [encoded(impl, value) for impl in TWINS]
    assert all(r == results[0] for r in results)
    if type(results[0]) is bytes:
        json.loads(results[0])  # valid JSON
