# Declarations of the compiled chunked twin (see _chunked_c.pyx).
# Ownership: the decoder owns its bytearrays and trailer list; feed() borrows the
# caller's buffer only for the duration of the call (PyObject_GetBuffer ...
# PyBuffer_Release) and never keeps a pointer into it.

from cpython.object cimport PyObject


# Output of one feed(): the first data span is remembered as a pointer into the
# input; only when a second span appears is a bytes object allocated (sized for
# the worst case, shrunk once at the end), so a feed that carries data from one
# chunk costs a single copy, or none when the input bytes are all data.
cdef struct _Out:
    PyObject* obj                 # owned reference or NULL
    char* buf                     # PyBytes_AS_STRING(obj)
    Py_ssize_t len                # bytes written to buf
    Py_ssize_t cap
    const unsigned char* first    # first span (borrowed, points into the input)
    Py_ssize_t first_len


cdef class ChunkedDecoder:
    cdef readonly Py_ssize_t max_chunk_ext_size
    cdef readonly Py_ssize_t max_trailer_size
    cdef readonly unsigned long long max_chunk_size
    cdef readonly bint lenient
    cdef readonly bint done
    cdef readonly list trailers
    cdef readonly bytes unused_data

    cdef int _state
    cdef unsigned long long _size       # chunk-size being read (never above max_chunk_size)
    cdef unsigned long long _remaining  # data octets left in the current chunk
    cdef Py_ssize_t _ext_count          # non-significant bytes in this size line
    cdef Py_ssize_t _trailer_count      # bytes of trailer field lines so far
    cdef bytearray _name                # trailer field line being read (bounded by
    cdef bytearray _value               # max_trailer_size)
    cdef object _error                  # the exception that failed the decoder, or None

    cdef object _fail(self, str msg, int status_hint=*)
    cdef object _feed(self, const unsigned char* p, Py_ssize_t n, object src)
    cdef int _run(self, const unsigned char* p, Py_ssize_t n, _Out* o) except -1
    cdef int _size_line_char(self, unsigned char c, int st) except -1
    cdef int _end_size_line(self) noexcept
    cdef int _count_trailer(self) except -1
    cdef int _end_trailer_line(self) except -1
