"""HPACK (RFC 7541), the header compression of HTTP/2: an encoder and a decoder.

The HTTP/2 server adapter (``streamcore.aio.http2``) puts these in place of
the ``hpack`` package's inside its ``h2`` connections; they have the same
interface (``Encoder.encode(headers)``, ``Encoder.header_table_size``,
``Decoder.decode(block)``, ``Decoder.max_header_list_size``,
``Decoder.max_allowed_table_size``)::

    from streamcore.hpack import Decoder, Encoder
    enc, dec = Encoder(), Decoder(max_header_list_size=64 * 1024)
    block = enc.encode([(b":status", b"200"), (b"content-type", b"text/event-stream")])
    assert dec.decode(block) == [(b":status", b"200"), (b"content-type", b"text/event-stream")]

A header block equal to the previous one that left the dynamic table
untouched is answered from a one-entry cache (MCP repeats its heads exactly).
:func:`check_request` applies RFC 9113's rules for request header lists
(sections 8.2 and 8.3) and raises :class:`MalformedHeaders`. Decoding errors
are :class:`HpackDecodeError` (and :class:`HeaderListTooLarge` past the
limit); with ``hpack`` installed they are also its ``HPACKDecodingError`` and
``OversizedHeaderListError``, which ``h2`` turns into its own errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._ext import implementation_of, load_twin

_impl = load_twin("hpack")
#: "compiled" or "pure"
IMPLEMENTATION = implementation_of(_impl)

if TYPE_CHECKING:
    from ._codecs._hpack_py import (
        DEFAULT_HEADER_TABLE_SIZE,
        DEFAULT_MAX_HEADER_LIST_SIZE,
        Decoder,
        Encoder,
        HeaderListTooLarge,
        HpackDecodeError,
        MalformedHeaders,
        check_request,
        huffman_decode,
        huffman_encode,
    )
else:
    DEFAULT_HEADER_TABLE_SIZE = _impl.DEFAULT_HEADER_TABLE_SIZE
    DEFAULT_MAX_HEADER_LIST_SIZE = _impl.DEFAULT_MAX_HEADER_LIST_SIZE
    Decoder = _impl.Decoder
    Encoder = _impl.Encoder
    HeaderListTooLarge = _impl.HeaderListTooLarge
    HpackDecodeError = _impl.HpackDecodeError
    MalformedHeaders = _impl.MalformedHeaders
    check_request = _impl.check_request
    huffman_decode = _impl.huffman_decode
    huffman_encode = _impl.huffman_encode

__all__ = [
    "DEFAULT_HEADER_TABLE_SIZE",
    "DEFAULT_MAX_HEADER_LIST_SIZE",
    "IMPLEMENTATION",
    "Decoder",
    "Encoder",
    "HeaderListTooLarge",
    "HpackDecodeError",
    "MalformedHeaders",
    "check_request",
    "huffman_decode",
    "huffman_encode",
]
