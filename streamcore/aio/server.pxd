# Augments server.py when setup.py compiles it (see streamcore/_toolkit.pxd):
# the connection and the hub become extension types, their per-request
# methods callable from C. Each keeps a __dict__, so that attributes the .py
# sets outside its slots (and subclasses' own) keep working.

cimport cython
from streamcore._endpoint cimport Server as _CoreServer

cdef class _Connection:
    cdef dict __dict__
    cdef public StreamableHttpServer hub
    cdef public object transport, xid, out, phase, stalled_at, timer, method, target, _doc, _cors, client, scheme
    cdef public bint closed, close_after_flush, discarding, reading_paused, responded, streaming, _held
    cdef public Py_ssize_t out_bytes, sent_pending
    cdef public double phase_at, linger_at
    cpdef _deadline(self)
    cpdef _arm(self)
    cpdef _write(self, data)
    cpdef _account(self)
    cpdef flush(self)
    cpdef _response_started(self, status)
    cpdef _next_request(self, buffered)
    cpdef _started_request(self, method, target, headers, has_body, checked=*)
    cpdef _process(self)
    cpdef head(self, ev)
    cpdef data(self, ev)
    cpdef end(self, ev)

cdef class _FastConnection(_Connection):
    cdef public object http
    cpdef _process(self)
    cpdef head(self, ev)
    cpdef data(self, ev)
    cpdef end(self, ev)

cdef class StreamableHttpServer:
    cdef dict __dict__
    cdef public object auth, front, _engine, max_head_size, app, cluster, _own_sealer
    cdef public object max_write_buffer, max_total_write_buffer, max_inbound_buffer, max_connections
    cdef public object head_timeout, keep_alive_timeout, body_timeout, write_timeout, linger_time, linger_timeout
    cdef public object shutdown_grace, request_timeout, access_log, request_state
    cdef public object _timer, _timer_at, _loop, _flush_handle, _pending, _servers, _http2, _h2_config, h2_listener
    cdef public _CoreServer core
    cdef public dict _route, _tasks, _waiting
    cdef public list _dirty
    cdef public set _conns
    cdef public Py_ssize_t _draining, _out_total
    cdef public bint _spawned, _inline, _closing
    cdef public double _full_logged_at, _emfile_logged_at
    cpdef double _now(self)
    cpdef _loop_(self)
    cpdef _drain(self)
    cpdef _flush(self)
    cpdef _arm_timer(self)
    cpdef _spawn(self, coro)
    cpdef _start(self, ev)
