# Arrow column builders for the compiled mapper (collector/_builders.pyx).

from libc.stdint cimport int32_t, uint64_t


cdef struct Buffer:
    char* data
    Py_ssize_t size
    Py_ssize_t capacity


cdef class Offsets:
    cdef Buffer buffer
    cdef Py_ssize_t length
    cdef int close(self, Py_ssize_t end) except -1
    cpdef object finish(self)


cdef class Fixed:
    cdef Buffer buffer
    cdef Py_ssize_t width
    cdef object kind
    cdef int add_u64(self, uint64_t value) except -1
    cdef int add_f64(self, double value) except -1
    cdef int add_u8(self, unsigned char value) except -1
    cpdef object finish(self)


cdef class Strings:
    cdef Buffer data
    cdef Buffer offsets
    cdef Py_ssize_t length
    cdef int add(self, const char* text, Py_ssize_t size) except -1
    cdef int add_str(self, str text) except -1
    cdef int add_hex(self, const unsigned char* raw, Py_ssize_t size) except -1
    cdef const char* at(self, Py_ssize_t index, Py_ssize_t* size)
    cdef int truncate(self, Py_ssize_t length) except -1
    cpdef object finish(self)


cdef class Maps:
    cdef Offsets rows
    cdef Strings keys
    cdef Strings values
    cdef Py_ssize_t row_start  # the first entry of the row being added
    cdef int add(self, const char* key, Py_ssize_t key_size, const char* value, Py_ssize_t value_size) except -1
    cdef int add_row_of(self, Maps other) except -1
    cdef int close_row(self) except -1
    cdef int _end_row(self) except -1
    cdef bint _has_repeated_key(self) except -1
    cdef int _keep_last_values(self) except -1
    cpdef object finish(self)
