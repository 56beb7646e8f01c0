# Augments _toolkit.py when setup.py compiles it (Cython's pure Python mode):
# the classes become extension types with their slots as C fields and their
# hot methods callable from C. The .py stays the source and the pure twin.

cdef class Counter:
    cdef public object next

cdef class Exchange:
    cdef public object xid, method, target, client, headers, state, identity, era, session, stream
    cdef public dict fields
    cdef public list body, replies
    cdef public Py_ssize_t size
    cdef public set owed
    cdef public bint is_batch
    cpdef move(self, event)

cdef class Outbox:
    cdef public object out, app
    cdef public bint omit_null_id
    cpdef head(self, xid, status, headers, streaming=*)
    cpdef data(self, xid, data)
    cpdef end(self, xid, close=*)
    cpdef emit(self, event)

cdef class Heartbeats:
    cdef public object interval, wake
    cdef public dict last
    cdef public set muted
    cpdef start(self, xid, now)
    cpdef wrote(self, xid, now)
    cpdef stop(self, xid)

cdef class Kit:
    cdef public Outbox outbox
    cdef public Heartbeats heartbeats
    cdef public dict exchanges, cancelled
    cdef public object new_rid, max_cancelled
    cpdef retire(self, Exchange x)
    cpdef json(self, Exchange x, status, body, extra=*)
    cpdef accepted(self, Exchange x, extra=*)
    cpdef stream(self, Exchange x, extra, now)
    cpdef write(self, Exchange x, data, now)
