# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Arrow columns built from C buffers: what the compiled mapper (collector._rows) writes spans into.

pyarrow turning Python values into columns cost as much as mapping them
(bench/README.md); these builders append UTF-8 bytes and numbers to growable
buffers and hand them to pyarrow as they are. Only what otel_traces needs:
non-null strings (int32 offsets), fixed-width numbers, list offsets and
Map(String, String) with the key semantics of a Python dict.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdlib cimport free, realloc
from libc.string cimport memcmp, memcpy

import pyarrow as pa

_STRING = pa.string()
_MAP = pa.map_(_STRING, pa.field("value", _STRING, nullable=False))
cdef const char* HEX = b"0123456789abcdef"
# Rows with more entries look for a repeated key with a set: a client may send thousands.
cdef Py_ssize_t _PAIRWISE_MAX = 16


cdef int _reserve(Buffer* buffer, Py_ssize_t extra) except -1:
    cdef Py_ssize_t capacity = buffer.capacity * 2
    cdef char* data
    if buffer.size + extra <= buffer.capacity:
        return 0
    if capacity < buffer.size + extra:
        capacity = buffer.size + extra
    if capacity < 4096:
        capacity = 4096
    data = <char*>realloc(buffer.data, capacity)
    if data == NULL:
        raise MemoryError()
    buffer.data = data
    buffer.capacity = capacity
    return 0


cdef inline int _put(Buffer* buffer, const void* source, Py_ssize_t size) except -1:
    if buffer.size + size > buffer.capacity:
        _reserve(buffer, size)
    memcpy(buffer.data + buffer.size, source, size)
    buffer.size += size
    return 0


cdef object _take(Buffer* buffer):
    """The buffer's bytes as an Arrow buffer; the C memory is freed."""
    data = PyBytes_FromStringAndSize(buffer.data, buffer.size)
    free(buffer.data)
    buffer.data = NULL
    buffer.size = buffer.capacity = 0
    return pa.py_buffer(data)


cdef class Offsets:
    """Where each list (or map) ends, as Arrow's int32 offsets: 0, then one per row."""

    def __cinit__(self):
        cdef int32_t zero = 0
        _put(&self.buffer, &zero, 4)

    def __dealloc__(self):
        free(self.buffer.data)

    cdef int close(self, Py_ssize_t end) except -1:
        cdef int32_t offset = <int32_t>end
        _put(&self.buffer, &offset, 4)
        self.length += 1
        return 0

    cpdef object finish(self):
        return pa.Array.from_buffers(pa.int32(), self.length + 1, [None, _take(&self.buffer)])


cdef class Fixed:
    """A column of fixed-width numbers (`kind`: an Arrow type of 1 or 8 bytes)."""

    def __cinit__(self, kind):
        self.kind = kind
        self.width = kind.bit_width // 8

    def __dealloc__(self):
        free(self.buffer.data)

    cdef int add_u64(self, uint64_t value) except -1:
        return _put(&self.buffer, &value, 8)

    cdef int add_f64(self, double value) except -1:
        return _put(&self.buffer, &value, 8)

    cdef int add_u8(self, unsigned char value) except -1:
        return _put(&self.buffer, &value, 1)

    cpdef object finish(self):
        length = self.buffer.size // self.width
        return pa.Array.from_buffers(self.kind, length, [None, _take(&self.buffer)])


cdef class Strings:
    """A column of strings: UTF-8 bytes end to end, and where each ends."""

    def __cinit__(self):
        cdef int32_t zero = 0
        _put(&self.offsets, &zero, 4)

    def __dealloc__(self):
        free(self.data.data)
        free(self.offsets.data)

    cdef int add(self, const char* text, Py_ssize_t size) except -1:
        cdef int32_t end
        _put(&self.data, text, size)
        end = <int32_t>self.data.size
        _put(&self.offsets, &end, 4)
        self.length += 1
        return 0

    cdef int add_str(self, str text) except -1:
        cdef Py_ssize_t size
        cdef const char* data = PyUnicode_AsUTF8AndSize(text, &size)
        return self.add(data, size)

    cdef int add_hex(self, const unsigned char* raw, Py_ssize_t size) except -1:
        """Adds `raw` in lower-case hex, as bytes.hex() writes it."""
        cdef Py_ssize_t index
        cdef int32_t end
        _reserve(&self.data, 2 * size)
        for index in range(size):
            self.data.data[self.data.size] = HEX[raw[index] >> 4]
            self.data.data[self.data.size + 1] = HEX[raw[index] & 15]
            self.data.size += 2
        end = <int32_t>self.data.size
        _put(&self.offsets, &end, 4)
        self.length += 1
        return 0

    cdef const char* at(self, Py_ssize_t index, Py_ssize_t* size):
        """The bytes of string `index` (valid until the next add)."""
        cdef int32_t* ends = <int32_t*>self.offsets.data
        size[0] = ends[index + 1] - ends[index]
        return self.data.data + ends[index]

    cdef int truncate(self, Py_ssize_t length) except -1:
        """Drops the strings from `length` on."""
        self.length = length
        self.data.size = (<int32_t*>self.offsets.data)[length]
        self.offsets.size = (length + 1) * 4
        return 0

    cpdef object finish(self):
        offsets = _take(&self.offsets)
        return pa.Array.from_buffers(_STRING, self.length, [None, offsets, _take(&self.data)])


cdef class Maps:
    """A Map(String, String) column. A row's entries are added one by one; when one key
    comes twice, the row keeps it once, where it came first, with the value it came with last
    (as a Python dict does)."""

    def __cinit__(self):
        self.rows = Offsets()
        self.keys = Strings()
        self.values = Strings()

    cdef int add(self, const char* key, Py_ssize_t key_size, const char* value, Py_ssize_t value_size) except -1:
        self.keys.add(key, key_size)
        self.values.add(value, value_size)
        return 0

    cdef int add_row_of(self, Maps other) except -1:
        """Adds the entries of `other` (a map of one closed row: no key twice) as a row of its own."""
        cdef Py_ssize_t index, key_size, value_size
        cdef const char* key
        cdef const char* value
        for index in range(other.keys.length):
            key = other.keys.at(index, &key_size)
            value = other.values.at(index, &value_size)
            self.add(key, key_size, value, value_size)
        return self._end_row()

    cdef int close_row(self) except -1:
        """Ends the row being added, keeping each of its keys once."""
        if self._has_repeated_key():
            self._keep_last_values()
        return self._end_row()

    cdef int _end_row(self) except -1:
        self.rows.close(self.keys.length)
        self.row_start = self.keys.length
        return 0

    cdef bint _has_repeated_key(self) except -1:
        cdef Py_ssize_t first, second, size, other_size
        cdef const char* key
        cdef const char* other
        if self.keys.length - self.row_start > _PAIRWISE_MAX:  # a set, not n^2/2 comparisons
            seen = set()
            for first in range(self.row_start, self.keys.length):
                key = self.keys.at(first, &size)
                seen.add(PyBytes_FromStringAndSize(key, size))
            return len(seen) < self.keys.length - self.row_start
        for first in range(self.row_start, self.keys.length):
            key = self.keys.at(first, &size)
            for second in range(first + 1, self.keys.length):
                other = self.keys.at(second, &other_size)
                if other_size == size and memcmp(other, key, size) == 0:
                    return True
        return False

    cdef int _keep_last_values(self) except -1:
        cdef Py_ssize_t index, size
        cdef const char* data
        entries = {}
        for index in range(self.row_start, self.keys.length):
            data = self.keys.at(index, &size)
            key = PyBytes_FromStringAndSize(data, size)
            data = self.values.at(index, &size)
            entries[key] = PyBytes_FromStringAndSize(data, size)
        self.keys.truncate(self.row_start)
        self.values.truncate(self.row_start)
        for key, value in entries.items():
            self.add(key, len(key), value, len(value))
        return 0

    cpdef object finish(self):
        offsets = self.rows.finish()
        return pa.MapArray.from_arrays(offsets, self.keys.finish(), self.values.finish(), type=_MAP)
