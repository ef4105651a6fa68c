"""ClickHouse's own LZ4 block compression (`compress=1`), with CityHash v1.0.2 checksums, as clickhouse-go reads it."""

from __future__ import annotations

import struct

import lz4.block
import pytest

from agentslo.clickhouse_http._compressed import cityhash128
from tests.clickhouse_http.conftest import Interface

# (length, low, high) of CityHash128 v1.0.2 over bytes(i % 251 for i in range(length)), computed with
# clickhouse-cityhash (the C implementation ClickHouse ships); each length takes another branch.
VECTORS = [
    (0, 0x3df09dfc64c09a2b, 0x3cb540c392e51e29),
    (1, 0xa04b71ab61de6422, 0xf768684937e23970),
    (7, 0xaa38db290ccb2b16, 0x684a34c21a5257da),
    (8, 0xd0bfe8984e1e8682, 0x565141a0cf7fc611),
    (15, 0x048856bb9fddcf10, 0x0c4d01dd6777bb5f),
    (16, 0x17ceade677c2f945, 0x579ed60675c8fedc),
    (17, 0x8112e830fb310ff1, 0xc972ad09c64fd737),
    (64, 0x83d9a0502fd851d0, 0x718073343ea63f22),
    (127, 0x6e9cefa0accaeec6, 0x56818bba66e6a718),
    (128, 0x7def035b54925590, 0xde34765c4aca9038),
    (129, 0x946689818b344e34, 0x5baf696c26fb2021),
    (200, 0x275774699e23b6fd, 0x5682ef01ebe7289c),
    (256, 0x8a2e3927e1a04c92, 0x2b771971cfa8360a),
    (1000, 0x44377c873c240f45, 0x9da1d106ca1c225d),
]


@pytest.mark.parametrize(("length", "low", "high"), VECTORS, ids=[f"{length} bytes" for length, _, _ in VECTORS])
def test_the_checksum_is_cityhash_1_0_2(length: int, low: int, high: int) -> None:
    assert cityhash128(bytes(i % 251 for i in range(length))) == (low, high)


def unframed(body: bytes) -> bytes:
    """The data in ClickHouse compressed blocks, each checked against its checksum."""
    data, at = bytearray(), 0
    while at < len(body):
        low, high, method, size, plain_size = struct.unpack_from("<QQBII", body, at)
        block = body[at + 16:at + 16 + size]
        assert (method, cityhash128(block)) == (0x82, (low, high))
        data += lz4.block.decompress(block[9:], uncompressed_size=plain_size)
        at += 16 + size
    return bytes(data)


@pytest.mark.parametrize("sql", ["SELECT * FROM otel_traces", "SELECT number, toString(number) FROM numbers(90000)"])
def test_compress_1_answers_in_checked_lz4_blocks(interface: Interface, sql: str) -> None:
    params = {"default_format": "Native", "client_protocol_version": "54478"}
    plain = interface.post(sql, **params).content
    packed = interface.post(sql, compress="1", **params)
    assert packed.status_code == 200 and len(packed.content) < len(plain)
    assert unframed(packed.content) == plain


def test_an_error_stays_plain_text_under_compress_1(interface: Interface) -> None:
    # clickhouse-go tries to decompress an error body and falls back to reading it as it is.
    answer = interface.post("SELECT * FROM no_such_table", compress="1")
    assert answer.text.startswith("Code: 60. DB::Exception: ")
