"""ClickHouse's own block compression, as its HTTP interface sends an answer asked for with `compress=1`. Pure.

Each block: a 16-byte checksum, then the method byte (0x82, LZ4), the block's size with
its 9-byte header and the data's size before compression (UInt32 little-endian each),
then the LZ4 block; the checksum is CityHash128 of the header and the compressed data
(src/Compression/CompressedWriteBuffer.cpp). ClickHouse checksums with CityHash v1.0.2,
which later CityHash releases changed: the clickhouse-cityhash package is that version
(the one clickhouse-driver checks blocks with).
"""

from __future__ import annotations

import struct

import lz4.block
from clickhouse_cityhash.cityhash import CityHash128

__all__ = ["cityhash128", "compressed_blocks"]

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
    """CityHash128 v1.0.2 of `data`, as (low, high) 64-bit halves, the order a block's checksum is written in."""
    value = CityHash128(data)
    return value >> 64, value & 0xFFFFFFFFFFFFFFFF
