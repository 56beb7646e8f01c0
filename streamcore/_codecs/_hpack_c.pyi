# Stub for the compiled twin: its API is exactly the pure twin's.
from ._hpack_py import DEFAULT_HEADER_TABLE_SIZE as DEFAULT_HEADER_TABLE_SIZE
from ._hpack_py import DEFAULT_MAX_HEADER_LIST_SIZE as DEFAULT_MAX_HEADER_LIST_SIZE
from ._hpack_py import Decoder as Decoder
from ._hpack_py import Encoder as Encoder
from ._hpack_py import HeaderListTooLarge as HeaderListTooLarge
from ._hpack_py import HpackDecodeError as HpackDecodeError
from ._hpack_py import MalformedHeaders as MalformedHeaders
from ._hpack_py import check_request as check_request
from ._hpack_py import huffman_decode as huffman_decode
from ._hpack_py import huffman_encode as huffman_encode
