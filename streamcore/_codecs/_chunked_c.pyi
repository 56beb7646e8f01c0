# Stub for the compiled twin: its API is exactly the pure twin's.
from ._chunked_py import DEFAULT_MAX_CHUNK_EXT_SIZE as DEFAULT_MAX_CHUNK_EXT_SIZE
from ._chunked_py import DEFAULT_MAX_CHUNK_SIZE as DEFAULT_MAX_CHUNK_SIZE
from ._chunked_py import DEFAULT_MAX_TRAILER_SIZE as DEFAULT_MAX_TRAILER_SIZE
from ._chunked_py import FORBIDDEN_TRAILERS as FORBIDDEN_TRAILERS
from ._chunked_py import BodyFraming as BodyFraming
from ._chunked_py import ChunkedDecodeError as ChunkedDecodeError
from ._chunked_py import ChunkedDecoder as ChunkedDecoder
from ._chunked_py import FramingError as FramingError
from ._chunked_py import IncompleteBodyError as IncompleteBodyError
from ._chunked_py import encode_chunk as encode_chunk
from ._chunked_py import encode_last_chunk as encode_last_chunk
from ._chunked_py import framing_for_request as framing_for_request
