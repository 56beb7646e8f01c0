# Augments _endpoint.py when setup.py compiles it (see _toolkit.pxd).

cimport cython
from streamcore._toolkit cimport Counter, Exchange, Kit, Outbox

cdef class Server:
    cdef public object config, _modern, _legacy, _l0, _served_b, _paths, _allow
    cdef public Outbox _outbox
    cdef public dict _exchanges, _l0_kinds, _verdicts
    cdef public Counter _xids, _rids
    cdef public Kit _kit
    cpdef next_event(self)
    cpdef next_output(self)
    cpdef next_app_event(self)
    # receive_request and receive_end stay Python-level methods (compiled, not
    # cpdef): a subclass (streamcore.redis) overrides them with keyword-only
    # ``now``, which a cpdef's call into a Python override would pass by position.
    @cython.locals(x=Exchange)
    cpdef receive_body(self, xid, data)
    cpdef _check_head(self, Exchange x)
    cpdef _check_method(self, Exchange x, dict f)
    cpdef _post(self, Exchange x, body, now)
    cpdef Exchange _live(self, xid)
