"""HPACK twins (streamcore.hpack): RFC 7541 encoding and decoding, checked
against the ``hpack`` package as the differential reference, the repeat cache,
every decoding error, the header list limit at its boundary, and RFC 9113's
request header rules (check_request). Every test runs on both twins."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import hpack
import pytest
from hpack.huffman import HuffmanEncoder
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hpack.table import HeaderTable
from hypothesis import given, settings
from hypothesis import strategies as st

from streamcore._codecs import _hpack_common

CODEC = "hpack"

names = st.one_of(
    st.sampled_from([b":method", b":path", b"content-type", b"accept", b"mcp-session-id", b"cookie",
                     b"authorization", b"x-a", b"date"]),
    st.binary(min_size=1, max_size=12),
)
values = st.one_of(st.sampled_from([b"", b"POST", b"/mcp", b"text/event-stream", b"200"]),
                   st.binary(max_size=300))
header_lists = st.lists(st.tuples(names, values), max_size=12)


def ref_pairs(decoded: Any) -> list[tuple[bytes, bytes]]:
    return [(bytes(n), bytes(v)) for n, v in decoded]


def test_tables_match_rfc7541_as_the_reference_has_them() -> None:
    """Appendix A (static table) and Appendix B (Huffman code, rebuilt from its lengths)."""
    assert _hpack_common.STATIC_TABLE == HeaderTable.STATIC_TABLE
    assert list(_hpack_common.HUFFMAN_CODES) == list(REQUEST_CODES)
    assert list(_hpack_common.HUFFMAN_LENGTHS) == list(REQUEST_CODES_LENGTH)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=200))
def test_huffman_round_trip_and_reference(impl: ModuleType, data: bytes) -> None:
    enc = impl.huffman_encode(data)
    assert enc == HuffmanEncoder(REQUEST_CODES, REQUEST_CODES_LENGTH).encode(data)
    assert impl.huffman_decode(enc) == data


@pytest.mark.parametrize("bad", [
    b"\xff\xff\xff\xff",  # EOS (30 ones) then more ones: EOS inside the string
    b"\x00",  # '0' (5 bits 00000) then 3 zero bits of padding: padding not all ones
    b"\x07\xff",  # '0' + more than 7 bits of 1 padding
])
def test_huffman_errors(impl: ModuleType, bad: bytes) -> None:
    with pytest.raises(impl.HpackDecodeError):
        impl.huffman_decode(bad)


@settings(max_examples=80, deadline=None)
@given(blocks=st.lists(header_lists, min_size=1, max_size=6), sizes=st.lists(st.sampled_from([0, 64, 256, 4096]),
                                                                             max_size=6))
def test_our_encoder_decoded_by_the_reference(impl: ModuleType, blocks: list[Any], sizes: list[int]) -> None:
    """A sequence of blocks, with table size changes between them, keeps both contexts in step."""
    enc, ref = impl.Encoder(), hpack.Decoder()
    for i, hs in enumerate(blocks):
        if i < len(sizes):
            enc.header_table_size = sizes[i]
        for _ in range(2):  # the second time: indexed references (and the repeat cache)
            assert ref_pairs(ref.decode(enc.encode(hs), raw=True)) == hs


@settings(max_examples=80, deadline=None)
@given(blocks=st.lists(header_lists, min_size=1, max_size=6), huffman=st.booleans())
def test_reference_encoder_decoded_by_ours(impl: ModuleType, blocks: list[Any], huffman: bool) -> None:
    ref, dec = hpack.Encoder(), impl.Decoder(max_header_list_size=1 << 20)
    for hs in blocks:
        for _ in range(2):
            assert dec.decode(ref.encode(hs, huffman=huffman)) == hs


def test_table_size_update_signalled_smallest_then_final(impl: ModuleType) -> None:
    """RFC 7541 section 4.2: two changes between blocks send the smaller, then the last."""
    enc, ref = impl.Encoder(), hpack.Decoder()
    hs = [(b"x-long", b"v" * 100)]
    assert ref_pairs(ref.decode(enc.encode(hs), raw=True)) == hs
    enc.header_table_size = 0
    enc.header_table_size = 2048
    block = enc.encode(hs)
    assert block[:2] == b"\x20\x3f"  # size update to 0, then 2048 (0x3f, 0xe1, 0x0f)
    assert ref_pairs(ref.decode(block, raw=True)) == hs
    assert ref.header_table.maxsize == 2048


def test_repeat_cache_is_invalidated_when_the_table_moves(impl: ModuleType) -> None:
    """An indexed-only block decodes differently once an insertion shifted the indexes."""
    ref, dec = hpack.Encoder(), impl.Decoder()
    a = ref.encode([(b"x-a", b"1")])  # inserts x-a: 1 at index 62
    assert dec.decode(a) == [(b"x-a", b"1")]
    again = bytes([0x80 | 62])  # indexed 62
    assert dec.decode(again) == [(b"x-a", b"1")]
    assert dec.decode(again) == [(b"x-a", b"1")]  # from the cache
    assert dec.decode(ref.encode([(b"x-b", b"2")])) == [(b"x-b", b"2")]  # now x-b is 62
    assert dec.decode(again) == [(b"x-b", b"2")]
    assert dec.table == [(b"x-b", b"2"), (b"x-a", b"1")]


def test_encoder_cache_answers_the_same_list_and_only_it(impl: ModuleType) -> None:
    enc, ref = impl.Encoder(), hpack.Decoder()
    hs = [(b":status", b"200"), (b"content-type", b"text/event-stream"), (b"mcp-session-id", b"abc")]
    first = enc.encode(hs)
    second = enc.encode(hs)  # all indexed now
    assert len(second) == 3 and second == enc.encode(list(hs))
    assert ref_pairs(ref.decode(first, raw=True)) == hs and ref_pairs(ref.decode(second, raw=True)) == hs
    other = hs[:2] + [(b"mcp-session-id", b"abd")]
    assert ref_pairs(ref.decode(enc.encode(other), raw=True)) == other
    assert ref_pairs(ref.decode(enc.encode(hs), raw=True)) == hs


def test_sensitive_fields_are_never_indexed(impl: ModuleType) -> None:
    """RFC 7541 section 7.1.3: credentials stay out of the dynamic table."""
    enc = impl.Encoder()
    block = enc.encode([(b"authorization", b"Bearer secret")])
    assert block[0] & 0xF0 == 0x10  # literal never indexed
    ref = hpack.Decoder()
    out = ref.decode(block, raw=True)
    assert isinstance(out[0], hpack.NeverIndexedHeaderTuple)
    assert len(ref.header_table.dynamic_entries) == 0


@pytest.mark.parametrize("block, why", [
    (b"\x80", "index 0"),
    (b"\xbf", "past the end"),  # index 63, empty dynamic table
    (b"\xff\xff\xff\xff\xff\x7f", "too large"),
    (b"\xff\x80\x80\x80\x80\x80\x00", "too large"),  # six continuation bytes
    (b"\xff", "truncated integer"),
    (b"\x40", "truncated string"),
    (b"\x40\x05ab", "longer than"),
    (b"\x3f\xe2\x1f", "past SETTINGS"),  # size update to 4099 > 4096
    (b"\x82\x20", "after a field"),
    (b"\x40\x81\xff\x01a", "Huffman"),
])
def test_decoding_errors(impl: ModuleType, block: bytes, why: str) -> None:
    with pytest.raises(impl.HpackDecodeError, match=why):
        impl.Decoder().decode(block)


def test_errors_are_hpack_errors_for_h2(impl: ModuleType) -> None:
    """h2 turns hpack's exceptions into its own (COMPRESSION_ERROR, or a DoS error)."""
    assert issubclass(impl.HpackDecodeError, hpack.HPACKDecodingError)
    assert issubclass(impl.HeaderListTooLarge, hpack.OversizedHeaderListError)
    assert issubclass(impl.HpackDecodeError, ValueError)


def test_header_list_size_boundary(impl: ModuleType) -> None:
    """The limit counts name + value + 32 per field (RFC 9113 section 6.5.2), at its boundary,
    and still applies to a block answered from the cache after the limit is lowered."""
    hs = [(b"x-a", b"v" * 65), (b"x-b", b"")]
    size = 3 + 65 + 32 + 3 + 0 + 32
    block = hpack.Encoder().encode(hs, huffman=False)
    assert impl.Decoder(max_header_list_size=size).decode(block) == hs
    with pytest.raises(impl.HeaderListTooLarge):
        impl.Decoder(max_header_list_size=size - 1).decode(block)
    plain = b"\x00\x03x-a\x02vv"  # literal without indexing: cacheable
    dec = impl.Decoder(max_header_list_size=1000)
    assert dec.decode(plain) == dec.decode(plain) == [(b"x-a", b"vv")]
    dec.max_header_list_size = 3 + 2 + 31
    with pytest.raises(impl.HeaderListTooLarge):
        dec.decode(plain)


def test_size_update_evicts_and_bounds(impl: ModuleType) -> None:
    dec = impl.Decoder()
    dec.decode(b"\x40\x03x-a\x01v")
    assert dec.table == [(b"x-a", b"v")]
    dec.decode(b"\x20")  # size 0: empty
    assert dec.table == [] and dec.header_table_size == 0
    dec.max_allowed_table_size = 100
    dec.decode(b"\x3f\x45")  # 31 + 69 = 100
    assert dec.header_table_size == 100
    dec.decode(b"\x40\x03x-a\x7f\x2a" + b"v" * 169)  # 3 + 169 + 32 > 100: the table empties
    assert dec.table == []


@settings(max_examples=300, deadline=None)
@given(blocks=st.lists(st.binary(max_size=40), max_size=5))
def test_twins_agree_on_any_bytes(blocks: list[bytes]) -> None:
    """Both twins give the same lists, or the same exception type, block after block."""
    from _twins import twins

    mods = twins(CODEC)
    results = []
    for m in mods:
        dec = m.Decoder(max_header_list_size=300)
        out: list[Any] = []
        for b in blocks:
            try:
                out.append(dec.decode(b))
            except m.HpackDecodeError as exc:
                out.append(type(exc).__name__)
                break
        results.append(out)
    assert all(r == results[0] for r in results)


BASE = [(b":method", b"POST"), (b":scheme", b"http"), (b":path", b"/mcp"), (b":authority", b"h:1")]


def test_check_request_ok(impl: ModuleType) -> None:
    method, path, authority, fields = impl.check_request(
        BASE + [(b"accept", b"a"), (b"cookie", b"a=1"), (b"te", b"Trailers"), (b"cookie", b"b=2")])
    assert (method, path, authority) == (b"POST", b"/mcp", b"h:1")
    # :authority stands in for Host (RFC 9113 section 8.3.1); cookies joined (section 8.2.3)
    assert fields == [(b"host", b"h:1"), (b"accept", b"a"), (b"te", b"Trailers"), (b"cookie", b"a=1; b=2")]
    _, _, _, fields = impl.check_request(BASE[:3] + [(b"host", b"h:2")])
    assert fields == [(b"host", b"h:2")]
    assert impl.check_request([(b":method", b"CONNECT"), (b":authority", b"h:1")])[0] == b"CONNECT"


@pytest.mark.parametrize("headers, why", [
    (BASE + [(b"", b"x")], "empty field name"),
    (BASE + [(b"X-Up", b"x")], "invalid field name"),
    (BASE + [(b"a b", b"x")], "invalid field name"),
    (BASE + [(b"a:b", b"x")], "invalid field name"),
    (BASE + [(b"a\x7f", b"x")], "invalid field name"),
    (BASE + [(b"x-a", b"1\r\n2")], "NUL, CR or LF"),
    (BASE + [(b"x-a", b"\x00")], "NUL, CR or LF"),
    (BASE + [(b"x-a", b" 1")], "white space"),
    (BASE + [(b"x-a", b"1\t")], "white space"),
    (BASE + [(b"connection", b"close")], "connection-specific"),
    (BASE + [(b"transfer-encoding", b"chunked")], "connection-specific"),
    (BASE + [(b"te", b"gzip")], "te other than trailers"),
    (BASE + [(b":status", b"200")], "unknown pseudo-header"),
    (BASE + [(b"x-a", b"1"), (b":method", b"GET")], "after a regular field"),
    (BASE + [(b":path", b"/x")], "repeated :path"),
    (BASE + [(b":method", b"GET")], "repeated :method"),
    (BASE + [(b":authority", b"x")], "repeated :authority"),
    (BASE[1:], "no :method"),
    (BASE[:2] + BASE[3:], "no :scheme or no :path"),
    ([(b":method", b"GET"), (b":scheme", b"http"), (b":path", b""), (b":authority", b"h")], "empty :path"),
    (BASE[:3], "neither :authority nor host"),
    (BASE + [(b"host", b"other:1")], "differ"),
    ([(b":method", b"CONNECT"), (b":path", b"/"), (b":authority", b"h")], "CONNECT with"),
    (BASE + [(b":protocol", b"websocket")], ":protocol without CONNECT"),
])
def test_check_request_malformed(impl: ModuleType, headers: list[tuple[bytes, bytes]], why: str) -> None:
    """RFC 9113 sections 8.2.1, 8.2.2, 8.3 and 8.3.1 (h2's own inbound checks, one by one)."""
    with pytest.raises(impl.MalformedHeaders, match=why):
        impl.check_request(headers)


def test_public_face_selects_a_twin() -> None:
    import streamcore.hpack as face
    from streamcore._ext import NO_EXTENSIONS

    assert face.IMPLEMENTATION == ("pure" if NO_EXTENSIONS else "compiled")
    enc, dec = face.Encoder(), face.Decoder()
    hs = [(b":status", b"200")]
    assert dec.decode(enc.encode(hs)) == hs
