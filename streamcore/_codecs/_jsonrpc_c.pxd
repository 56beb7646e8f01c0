# Declarations for the compiled JSON-RPC parser (see _jsonrpc_c.pyx).
#
# Ownership: a _Parser lives for one parse() or decode_value() call. It keeps a
# reference to the body's bytes object (`buf`) so that `p` stays valid and lazy
# RawJson slices can point into it; `scratch` is a malloc'ed buffer for strings
# with escapes, freed in __dealloc__.
# Call order: parse()/decode_value() create it, call top()/value_text(), read
# the results, and drop it.

cdef class _Parser:
    cdef object buf                  # the body (bytes); owns the memory `p` points to
    cdef const unsigned char* p      # body bytes
    cdef Py_ssize_t n                # body length
    cdef Py_ssize_t pos              # end of the last value parsed or skipped
    cdef int max_depth
    cdef bint lazy                   # keep params/result/extras as RawJson spans
    cdef bint mcp                    # MCP overlay rules (spec 5.2) on top of JSON-RPC
    cdef bint dup                    # a duplicate member name was seen in a decoded object
    cdef char* scratch               # unescaping buffer, grown on demand
    cdef Py_ssize_t scratch_cap

    cdef Py_ssize_t skip_string(self, Py_ssize_t i) except -1
    cdef Py_ssize_t skip_number(self, Py_ssize_t i) except -1
    cdef Py_ssize_t skip_value(self, Py_ssize_t i, int depth) except -1
    cdef object parse_string(self, Py_ssize_t i)
    cdef object parse_number(self, Py_ssize_t i)
    cdef object parse_value(self, Py_ssize_t i, int depth)
    cdef int grow(self, Py_ssize_t need) except -1
    cdef object element(self, Py_ssize_t i, int depth)
    cdef object envelope(self, Py_ssize_t i, int depth)
    cdef object classify(self, bint has_id, bint dup, bint has_method, bint has_response,
                         int jsonrpc_state, object ident, int kind,
                         object method, object params, object result, object error,
                         int pkind, int rkind)


# The value encoder's output buffer: malloc'ed, owned by the _Out, freed in
# __dealloc__; one _Out per encoded value, copied into bytes at the end.
cdef class _Out:
    cdef char* buf
    cdef Py_ssize_t n
    cdef Py_ssize_t cap

    cdef int reserve(self, Py_ssize_t k) except -1
    cdef int put(self, const char* s, Py_ssize_t k) except -1
    cdef int put_str(self, object s) except -1
    cdef int put_value(self, object obj, int depth) except -1
