# Augments _session.py when setup.py compiles it (see _toolkit.pxd).

cimport cython
from streamcore._toolkit cimport Exchange, Kit

cdef class _Stream:
    cdef public object key, x, state
    cdef public _Session session
    cdef public bint is_get, priming
    cdef public Py_ssize_t seq
    cdef public set owed
    cpdef move(self, event)

cdef class _Session:
    cdef public object id, identity, version, get_stream, queue, last_active, state, quota_key
    cdef public dict streams, inflight
    cdef public Py_ssize_t next_stream, queued_bytes
    cdef public set outbound

cdef class _Pending:
    cdef public object rid, request_id, method, stream
    cdef public _Session session
    cdef public Exchange x

cdef class _Streams:
    cdef public object config
    cdef public Kit kit
    cpdef _Stream new(self, _Session session, bint is_get)
    cpdef attach(self, Exchange x, _Stream stream, now, bint prime=*)
    cpdef send(self, _Stream stream, data, now)
    cpdef detach(self, _Stream stream)
    cpdef forget_if_done(self, _Stream stream)

cdef class SessionCore:
    cdef public object config, wake, _next_server_request, _supported
    cdef public Kit kit
    cdef public dict sessions, pending, _per_client
    cdef public _Streams streams
    @cython.locals(session=_Session)
    cpdef post(self, Exchange x, body, header_version, now)
    @cython.locals(stream=_Stream)
    cpdef _dispatch(self, Exchange x, _Session session, list messages, version, now)
    @cython.locals(p=_Pending)
    cpdef respond(self, rid, result, error, now)
    @cython.locals(stream=_Stream, session=_Session, x=Exchange)
    cpdef _finish(self, _Pending p, data, now)
    cpdef _use(self, _Session session, now)
    cpdef _lookup(self, Exchange x, sid)
