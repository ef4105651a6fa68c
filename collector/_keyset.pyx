# cython: language_level=3, boundscheck=False, wraparound=False
"""A set of span keys kept as 64-bit hashes in one C array: the writer's memory of recent spans.

A Python set of the keys' hashes costs an int object and a table slot a key;
this open-addressing table costs an 8-byte slot, kept at most half full: a
third of the memory or less (bench/README.md has the figures).
"""

from libc.stdint cimport uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset


cdef inline uint64_t _hash(bytes key):
    cdef uint64_t value = <uint64_t>hash(key)
    return value if value else 1  # 0 marks an empty slot


cdef class KeySet:
    """Room for `capacity` keys: the table has at least twice as many slots, and refuses a key
    (OverflowError) once it would be more than half full."""

    cdef uint64_t* _slots
    cdef Py_ssize_t _mask
    cdef Py_ssize_t _count
    cdef Py_ssize_t _capacity

    def __cinit__(self, Py_ssize_t capacity):
        cdef Py_ssize_t size = 16
        while size < 2 * capacity:
            size <<= 1
        self._slots = <uint64_t*>calloc(size, sizeof(uint64_t))
        if self._slots == NULL:
            raise MemoryError()
        self._mask = size - 1
        self._capacity = capacity

    def __dealloc__(self):
        free(self._slots)

    def __len__(self) -> int:
        return self._count

    @property
    def capacity(self) -> int:
        return self._capacity

    def __contains__(self, bytes key) -> bool:
        return self._slots[self._find(_hash(key))] != 0

    def isdisjoint(self, list keys) -> bool:
        """Whether none of `keys` is in the set."""
        for key in keys:
            if self._slots[self._find(_hash(key))] != 0:
                return False
        return True

    def add_all(self, list keys) -> None:
        """Adds `keys`."""
        cdef uint64_t value
        cdef Py_ssize_t slot
        for key in keys:
            value = _hash(key)
            slot = self._find(value)
            if self._slots[slot] == 0:
                if 2 * (self._count + 1) > self._mask + 1:
                    raise OverflowError("KeySet is full")
                self._slots[slot] = value
                self._count += 1

    def clear(self) -> None:
        memset(self._slots, 0, (self._mask + 1) * sizeof(uint64_t))
        self._count = 0

    cdef inline Py_ssize_t _find(self, uint64_t value):
        """The slot holding `value`, or the empty slot where it would go (linear probing)."""
        cdef Py_ssize_t slot = value & self._mask
        while self._slots[slot] != 0 and self._slots[slot] != value:
            slot = (slot + 1) & self._mask
        return slot
