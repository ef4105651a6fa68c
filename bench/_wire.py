"""Reading the protobuf wire format directly, for the few places the bench needs it.

Finding where each id sits inside a serialized request, and reading small
answers (OTLP partial success, gRPC RetryInfo), is simpler and cheaper on the
raw bytes than through generated classes; the bench also needs no
googleapis-common-protos for `google.rpc.Status`.
"""

from __future__ import annotations

from collections.abc import Iterator

VARINT = 0
FIXED64 = 1
LEN = 2
FIXED32 = 5


def _varint(buf: bytes | bytearray, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        try:
            byte = buf[pos]
        except IndexError:
            raise ValueError("truncated varint") from None
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def fields(buf: bytes | bytearray, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, int, int]]:
    """Yield `(field_number, wire_type, a, b)` for each field of the message in `buf[start:end]`.

    For LEN, FIXED64 and FIXED32 fields `buf[a:b]` is the value's bytes; for a
    VARINT field `a` is the value itself and `b` the position after it.
    """
    end = len(buf) if end is None else end
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == VARINT:
            value, pos = _varint(buf, pos)
            yield number, wire_type, value, pos
            continue
        if wire_type == LEN:
            length, pos = _varint(buf, pos)
        elif wire_type == FIXED64:
            length = 8
        elif wire_type == FIXED32:
            length = 4
        else:
            raise ValueError(f"unsupported wire type {wire_type} for field {number}")
        if pos + length > end:
            raise ValueError(f"field {number} runs past the end of its message")
        yield number, wire_type, pos, pos + length
        pos += length


def rejected_spans(export_response: bytes) -> int:
    """`partial_success.rejected_spans` of a serialized ExportTraceServiceResponse (0 when absent)."""
    rejected = 0
    for number, wire_type, a, b in fields(export_response):
        if number == 1 and wire_type == LEN:  # partial_success
            for inner, inner_type, value, _ in fields(export_response, a, b):
                if inner == 1 and inner_type == VARINT:  # rejected_spans
                    rejected = value
    return rejected


def retry_delay_s(status_details: bytes) -> float | None:
    """The RetryInfo delay in a serialized `google.rpc.Status` (gRPC's grpc-status-details-bin), if any."""
    for number, wire_type, a, b in fields(status_details):
        if number != 3 or wire_type != LEN:  # details: repeated google.protobuf.Any
            continue
        type_url, value = "", (0, 0)
        for inner, inner_type, c, d in fields(status_details, a, b):
            if inner == 1 and inner_type == LEN:
                type_url = bytes(status_details[c:d]).decode("utf-8", "replace")
            elif inner == 2 and inner_type == LEN:
                value = (c, d)
        if not type_url.endswith("/google.rpc.RetryInfo"):
            continue
        seconds = nanos = 0
        for inner, inner_type, c, d in fields(status_details, *value):
            if inner == 1 and inner_type == LEN:  # retry_delay: google.protobuf.Duration
                for part, part_type, v, _ in fields(status_details, c, d):
                    if part == 1 and part_type == VARINT:
                        seconds = v
                    elif part == 2 and part_type == VARINT:
                        nanos = v
        return seconds + nanos / 1e9
    return None
