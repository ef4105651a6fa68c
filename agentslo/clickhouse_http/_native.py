"""ClickHouse's Native format as a client of a given protocol version reads it. Pure.

chDB writes Native as protocol version 0 does: a block is its column and row counts
(varints), then each column's name, type and data. A client that sends
`client_protocol_version` (clickhouse-go always does over HTTP) reads, from version 1
on, a block-info header before the counts and, from version 54454 on, a "custom
serialization" flag after each column's type (ClickHouse src/Formats/NativeWriter.cpp;
clickhouse-go lib/proto/block.go). Inserting the flag needs each column's data length,
so `for_protocol` walks the data by type: first the column's serialization prefixes
(a LowCardinality's key version, wherever it nests), then its values (a LowCardinality's
index type, its keys and its indexes: src/DataTypes/Serializations/SerializationLowCardinality.cpp).
Types this walk does not know are refused, never guessed.
"""

from __future__ import annotations

import re

__all__ = ["MIN_REVISION_WITH_CUSTOM_SERIALIZATION", "UnsupportedType", "for_protocol", "header_block"]

MIN_REVISION_WITH_CUSTOM_SERIALIZATION = 54454
# Block info as NativeWriter writes it: field 1 is_overflows = false, field 2 bucket_num = -1, field 0 ends it.
_BLOCK_INFO = b"\x01\x00\x02\xff\xff\xff\xff\x00"

_FIXED_WIDTH = {
    "UInt8": 1, "UInt16": 2, "UInt32": 4, "UInt64": 8, "UInt128": 16, "UInt256": 32,
    "Int8": 1, "Int16": 2, "Int32": 4, "Int64": 8, "Int128": 16, "Int256": 32,
    "Float32": 4, "Float64": 8, "BFloat16": 2, "Bool": 1, "Date": 2, "Date32": 4, "DateTime": 4,
    "UUID": 16, "IPv4": 4, "IPv6": 16, "Nothing": 1,
    "IntervalNanosecond": 8, "IntervalMicrosecond": 8, "IntervalMillisecond": 8, "IntervalSecond": 8,
    "IntervalMinute": 8, "IntervalHour": 8, "IntervalDay": 8, "IntervalWeek": 8, "IntervalMonth": 8,
    "IntervalQuarter": 8, "IntervalYear": 8,
}
_DECIMAL_WIDTH = {"Decimal32": 4, "Decimal64": 8, "Decimal128": 16, "Decimal256": 32}
_CALL = re.compile(r"^(\w+)\((.*)\)$", re.DOTALL)


class UnsupportedType(ValueError):
    """A column type whose Native data this module cannot measure (or data that does not fit its type)."""


def for_protocol(native: bytes, revision: int) -> bytes:
    """`native` (as protocol version 0 writes it) as a client of protocol `revision` reads it."""
    if revision <= 0 or not native:
        return native
    out = bytearray()
    reader = _Reader(native)
    while not reader.done():
        out += _BLOCK_INFO
        start = reader.at
        columns = reader.varint()
        rows = reader.varint()
        out += native[start:reader.at]
        for _ in range(columns):
            start = reader.at
            reader.string()
            type_name = reader.string().decode()
            out += native[start:reader.at]
            if revision >= MIN_REVISION_WITH_CUSTOM_SERIALIZATION:
                out += b"\x00"
            start = reader.at
            if rows:
                _skip_prefix(reader, type_name)
                _skip(reader, type_name, rows)
            out += native[start:reader.at]
    return bytes(out)


def header_block(names_and_types: bytes) -> bytes:
    """The Native block of no rows that names an empty answer's columns, as a server sends it (chDB sends
    nothing), from the header of the same answer in RowBinaryWithNamesAndTypes."""
    reader = _Reader(names_and_types)
    count = reader.varint()
    names = [reader.string() for _ in range(count)]
    types = [reader.string() for _ in range(count)]
    block = bytearray(_varint(count) + _varint(0))
    for name, type_name in zip(names, types):
        block += _varint(len(name)) + name + _varint(len(type_name)) + type_name
    return bytes(block)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def done(self) -> bool:
        return self.at >= len(self.data)

    def varint(self) -> int:
        value, shift = 0, 0
        while True:
            if self.at >= len(self.data):
                raise UnsupportedType("Native data ends inside a value")
            byte = self.data[self.at]
            self.at += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def string(self) -> bytes:
        length = self.varint()
        self.at += length
        return self.data[self.at - length:self.at]

    def skip(self, count: int) -> None:
        self.at += count
        if self.at > len(self.data):
            raise UnsupportedType("Native data ends inside a column")

    def uint64_at(self, offset: int) -> int:
        return int.from_bytes(self.data[offset:offset + 8], "little")


def _skip_prefix(reader: _Reader, type_name: str) -> None:
    """Move past the serialization prefixes of a column of `type_name`: a LowCardinality's key version."""
    call = _CALL.match(type_name.strip())
    if call is None:
        return
    name, arguments = call[1], _split_arguments(call[2])
    if name == "LowCardinality":
        reader.skip(8)
    elif name in ("Array", "Nullable", "SimpleAggregateFunction"):
        _skip_prefix(reader, arguments[-1])
    elif name in ("Map", "Tuple"):
        for argument in arguments:
            _skip_prefix(reader, _element_type(argument))


# LowCardinality's index type: its low byte picks the index width; higher bits are flags.
_INDEX_WIDTHS = (1, 2, 4, 8)
_NEEDS_GLOBAL_DICTIONARY = 1 << 8
_HAS_ADDITIONAL_KEYS = 1 << 9


def _skip(reader: _Reader, type_name: str, rows: int) -> None:
    """Move past `rows` values of `type_name` in Native's bulk layout."""
    type_name = type_name.strip()
    if type_name in _FIXED_WIDTH:
        reader.skip(_FIXED_WIDTH[type_name] * rows)
        return
    if type_name == "String":
        for _ in range(rows):
            reader.string()
        return
    call = _CALL.match(type_name)
    if call is None:
        raise UnsupportedType(type_name)
    name, arguments = call[1], _split_arguments(call[2])
    if name in ("DateTime", "Enum8"):
        reader.skip((4 if name == "DateTime" else 1) * rows)
    elif name == "Enum16":
        reader.skip(2 * rows)
    elif name == "DateTime64":
        reader.skip(8 * rows)
    elif name == "FixedString":
        reader.skip(int(arguments[0]) * rows)
    elif name in _DECIMAL_WIDTH:
        reader.skip(_DECIMAL_WIDTH[name] * rows)
    elif name == "Decimal":
        precision = int(arguments[0])
        reader.skip((4 if precision <= 9 else 8 if precision <= 18 else 16 if precision <= 38 else 32) * rows)
    elif name == "Nullable":
        reader.skip(rows)
        _skip(reader, arguments[0], rows)
    elif name in ("Array", "Map"):
        nested = 0
        if rows:
            reader.skip(8 * rows)
            nested = reader.uint64_at(reader.at - 8)
        element = arguments[0] if name == "Array" else f"Tuple({arguments[0]}, {arguments[1]})"
        _skip(reader, element, nested)
    elif name == "Tuple":
        for argument in arguments:
            _skip(reader, _element_type(argument), rows)
    elif name == "SimpleAggregateFunction":
        _skip(reader, arguments[-1], rows)
    elif name == "LowCardinality":
        _skip_low_cardinality(reader, arguments[0], rows)
    else:
        raise UnsupportedType(type_name)


def _skip_low_cardinality(reader: _Reader, inner: str, rows: int) -> None:
    if rows == 0:
        return
    index_type = reader.uint64_at(reader.at)
    reader.skip(8)
    if index_type & _NEEDS_GLOBAL_DICTIONARY or (index_type & 0xFF) >= len(_INDEX_WIDTHS):
        raise UnsupportedType(f"LowCardinality({inner}) with index type {index_type:#x}")
    if index_type & _HAS_ADDITIONAL_KEYS:
        keys = reader.uint64_at(reader.at)
        reader.skip(8)
        nullable = _CALL.match(inner)
        _skip(reader, nullable[2] if nullable and nullable[1] == "Nullable" else inner, keys)
    indexes = reader.uint64_at(reader.at)
    reader.skip(8 + _INDEX_WIDTHS[index_type & 0xFF] * indexes)


def _split_arguments(text: str) -> list[str]:
    """A type's arguments, split at the commas outside parentheses and quotes."""
    arguments, depth, quoted, current = [], 0, False, []
    index = 0
    while index < len(text):
        char = text[index]
        if quoted:
            if char == "\\":
                current.append(text[index:index + 2])
                index += 2
                continue
            quoted = char != "'"
        elif char == "'":
            quoted = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            arguments.append("".join(current).strip())
            current = []
            index += 1
            continue
        current.append(char)
        index += 1
    arguments.append("".join(current).strip())
    return arguments


def _element_type(argument: str) -> str:
    """A tuple element's type: `name Type` in a named tuple (a space before any parenthesis), `Type` otherwise."""
    space, paren = argument.find(" "), argument.find("(")
    if space > 0 and (paren < 0 or space < paren):
        return argument[space + 1:].strip()
    return argument
