# Stub for the compiled twin: its API is exactly the pure twin's.
from ._sse_py import DEFAULT_MAX_EVENT_SIZE as DEFAULT_MAX_EVENT_SIZE
from ._sse_py import DEFAULT_MAX_LINE_SIZE as DEFAULT_MAX_LINE_SIZE
from ._sse_py import MAX_RETRY as MAX_RETRY
from ._sse_py import SseDecoder as SseDecoder
from ._sse_py import SseEvent as SseEvent
from ._sse_py import encode_comment as encode_comment
from ._sse_py import encode_event as encode_event
from ._sse_py import encode_event_chunk as encode_event_chunk
from ._sse_py import encode_priming as encode_priming
