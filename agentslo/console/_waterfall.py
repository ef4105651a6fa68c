"""A trace as a waterfall: its spans in tree order, each with its depth and its bar's place on the time axis.

Pure: spans in, rows out. A span whose parent is not among the trace's stored spans
(not exported, or not yet) is drawn as a root, so that nothing stored is hidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class TimedSpan(Protocol):
    """What the layout reads of a span."""

    @property
    def span_id(self) -> str: ...
    @property
    def parent_span_id(self) -> str: ...
    @property
    def start_ns(self) -> int: ...
    @property
    def duration_ns(self) -> int: ...


@dataclass(frozen=True)
class Bar:
    """One span's row: its depth in the tree, and where its bar starts and how wide it is, in percent of
    the trace's time from its first start to its last end."""

    index: int  # in the spans given
    depth: int
    offset_pct: float
    width_pct: float


def waterfall(spans: Sequence[TimedSpan]) -> list[Bar]:
    """The spans depth first, children by start time (then id), each with its bar.

    Example: a root of 10 s with a child from 2 s to 5 s gives
    [Bar(0, 0, 0.0, 100.0), Bar(1, 1, 20.0, 30.0)].
    """
    if not spans:
        return []
    ids = {span.span_id for span in spans}
    children: dict[str, list[int]] = {}
    roots: list[int] = []
    for index, span in enumerate(spans):
        if span.parent_span_id and span.parent_span_id in ids and span.parent_span_id != span.span_id:
            children.setdefault(span.parent_span_id, []).append(index)
        else:
            roots.append(index)

    def order(indexes: list[int]) -> list[int]:
        return sorted(indexes, key=lambda i: (spans[i].start_ns, spans[i].span_id))

    first = min(span.start_ns for span in spans)
    last = max(span.start_ns + span.duration_ns for span in spans)
    total = max(last - first, 1)
    bars: list[Bar] = []
    seen: set[str] = set()
    stack = [(index, 0) for index in reversed(order(roots))]
    while stack:
        index, depth = stack.pop()
        span = spans[index]
        if span.span_id in seen:  # a span id stored twice, or a cycle of parents: drawn once
            continue
        seen.add(span.span_id)
        bars.append(Bar(index, depth, 100 * (span.start_ns - first) / total, 100 * span.duration_ns / total))
        stack.extend((child, depth + 1) for child in reversed(order(children.get(span.span_id, []))))
    # Spans in a cycle of parents have no root above them: drawn as roots, after the tree.
    for index in order([i for i in range(len(spans)) if spans[i].span_id not in seen]):
        span = spans[index]
        if span.span_id not in seen:
            seen.add(span.span_id)
            bars.append(Bar(index, 0, 100 * (span.start_ns - first) / total, 100 * span.duration_ns / total))
    return bars
