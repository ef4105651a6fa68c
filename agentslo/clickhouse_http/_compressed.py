"""ClickHouse's own block compression, as its HTTP interface sends an answer asked for with `compress=1`. Pure.

Each block: a 16-byte checksum, then the method byte (0x82, LZ4), the block's size with
its 9-byte header and the data's size before compression (UInt32 little-endian each),
then the LZ4 block; the checksum is CityHash128 of the header and the compressed data
(src/Compression/CompressedWriteBuffer.cpp). ClickHouse checksums with CityHash v1.0.2,
which later CityHash releases changed: `cityhash128` is that version, as clickhouse-go
reads it (github.com/go-faster/city, ch_128.go).
"""

from __future__ import annotations

import struct

import lz4.block

__all__ = ["cityhash128", "compressed_blocks"]

_MASK = (1 << 64) - 1
_K0 = 0xC3A5C85C97CB3127
_K1 = 0xB492B66FBE98F273
_K2 = 0x9AE16A3B2F90404F
_K3 = 0xC949D7C7509E6557
_KMUL = 0x9DDFEA08EB382D69
_LZ4 = 0x82
# The size of the blocks a server writes (DBMS_DEFAULT_BUFFER_SIZE).
_BLOCK_BYTES = 1 << 20


def compressed_blocks(data: bytes) -> bytes:
    """`data` as LZ4-compressed ClickHouse blocks of at most 1 MiB of input each."""
    out = bytearray()
    for start in range(0, len(data), _BLOCK_BYTES):
        chunk = data[start:start + _BLOCK_BYTES]
        packed = lz4.block.compress(chunk, store_size=False)
        block = struct.pack("<BII", _LZ4, 9 + len(packed), len(chunk)) + packed
        low, high = cityhash128(block)
        out += struct.pack("<QQ", low, high) + block
    return bytes(out)


def cityhash128(data: bytes) -> tuple[int, int]:
    """CityHash128 v1.0.2 of `data`, as (low, high) 64-bit halves."""
    length = len(data)
    if length >= 16:
        return _with_seed(data[16:], _fetch64(data, 0) ^ _K3, _fetch64(data, 8))
    if length >= 8:
        return _with_seed(b"", _fetch64(data, 0) ^ (length * _K0 & _MASK), _fetch64(data, length - 8) ^ _K1)
    return _with_seed(data, _K0, _K1)


def _fetch64(data: bytes, at: int) -> int:
    return int.from_bytes(data[at:at + 8], "little")


def _fetch32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at:at + 4], "little")


def _rotate(value: int, shift: int) -> int:
    return value if shift == 0 else ((value >> shift) | (value << (64 - shift))) & _MASK


def _shift_mix(value: int) -> int:
    return value ^ (value >> 47)


def _hash16(low: int, high: int) -> int:
    a = ((low ^ high) * _KMUL) & _MASK
    a ^= a >> 47
    b = ((high ^ a) * _KMUL) & _MASK
    b ^= b >> 47
    return (b * _KMUL) & _MASK


def _hash0to16(data: bytes, length: int) -> int:
    if length > 8:
        a, b = _fetch64(data, 0), _fetch64(data, length - 8)
        return _hash16(a, _rotate((b + length) & _MASK, length)) ^ b
    if length >= 4:
        return _hash16((length + (_fetch32(data, 0) << 3)) & _MASK, _fetch32(data, length - 4))
    if length > 0:
        y = (data[0] + (data[length >> 1] << 8)) & 0xFFFFFFFF
        z = (length + (data[length - 1] << 2)) & 0xFFFFFFFF
        return (_shift_mix(((y * _K2) ^ (z * _K3)) & _MASK) * _K2) & _MASK
    return _K2


def _weak32(data: bytes, at: int, a: int, b: int) -> tuple[int, int]:
    w, x, y, z = (_fetch64(data, at + offset) for offset in (0, 8, 16, 24))
    a = (a + w) & _MASK
    b = _rotate((b + a + z) & _MASK, 21)
    c = a
    a = (a + x + y) & _MASK
    b = (b + _rotate(a, 44)) & _MASK
    return (a + z) & _MASK, (b + c) & _MASK


def _murmur(data: bytes, a: int, b: int) -> tuple[int, int]:
    length = len(data)
    if length <= 16:
        a = (_shift_mix((a * _K1) & _MASK) * _K1) & _MASK
        c = (b * _K1 + _hash0to16(data, length)) & _MASK
        d = _shift_mix((a + (_fetch64(data, 0) if length >= 8 else c)) & _MASK)
    else:
        c = _hash16((_fetch64(data, length - 8) + _K1) & _MASK, a)
        d = _hash16((b + length) & _MASK, (c + _fetch64(data, length - 16)) & _MASK)
        a = (a + d) & _MASK
        at, remaining = 0, length - 16
        while True:
            a ^= (_shift_mix((_fetch64(data, at) * _K1) & _MASK) * _K1) & _MASK
            a = (a * _K1) & _MASK
            b ^= a
            c ^= (_shift_mix((_fetch64(data, at + 8) * _K1) & _MASK) * _K1) & _MASK
            c = (c * _K1) & _MASK
            d ^= c
            at += 16
            remaining -= 16
            if remaining <= 0:
                break
    a = _hash16(a, c)
    b = _hash16(d, b)
    return a ^ b, _hash16(b, a)


def _with_seed(data: bytes, x: int, y: int) -> tuple[int, int]:
    length = len(data)
    if length < 128:
        return _murmur(data, x, y)
    z = (length * _K1) & _MASK
    v0 = (_rotate(y ^ _K1, 49) * _K1 + _fetch64(data, 0)) & _MASK
    v1 = (_rotate(v0, 42) * _K1 + _fetch64(data, 8)) & _MASK
    w0 = (_rotate((y + z) & _MASK, 35) * _K1 + x) & _MASK
    w1 = (_rotate((x + _fetch64(data, 88)) & _MASK, 53) * _K1) & _MASK
    at = 0
    while length - at >= 128:
        for offset in (at, at + 64):
            x = (_rotate((x + y + v0 + _fetch64(data, offset + 16)) & _MASK, 37) * _K1) & _MASK
            y = (_rotate((y + v1 + _fetch64(data, offset + 48)) & _MASK, 42) * _K1) & _MASK
            x ^= w1
            y ^= v0
            z = _rotate(z ^ w0, 33)
            v0, v1 = _weak32(data, offset, (v1 * _K1) & _MASK, (x + w0) & _MASK)
            w0, w1 = _weak32(data, offset + 32, (z + w1) & _MASK, y)
            z, x = x, z
        at += 128
    y = (y + _rotate(w0, 37) * _K0 + z) & _MASK
    x = (x + _rotate((v0 + z) & _MASK, 49) * _K0) & _MASK
    tail, done = length - at, 0
    while done < tail:
        done += 32
        y = (_rotate((y - x) & _MASK, 42) * _K0 + v1) & _MASK
        w0 = (w0 + _fetch64(data, length - done + 16)) & _MASK
        x = (_rotate(x, 49) * _K0 + w0) & _MASK
        w0 = (w0 + v0) & _MASK
        v0, v1 = _weak32(data, length - done, v0, v1)
    x = _hash16(x, v0)
    y = _hash16(y, w0)
    return (_hash16((x + v1) & _MASK, w1) + y) & _MASK, _hash16((x + w1) & _MASK, (y + v1) & _MASK)
