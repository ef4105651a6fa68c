"""Durations as the config file writes them: 30s, 500ms, 5m, 28d. Pure."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_UNIT = {"ms": timedelta(milliseconds=1), "s": timedelta(seconds=1), "m": timedelta(minutes=1),
         "h": timedelta(hours=1), "d": timedelta(days=1)}


def parse_duration(text: object, *, units: tuple[str, ...], whole: bool) -> timedelta | None:
    """`text` such as "30s" or "500ms" in one of `units` as a timedelta, or None if it is not one."""
    if isinstance(text, timedelta):
        return text
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None or match.group(2) not in units or (whole and "." in match.group(1)):
        return None
    return float(match.group(1)) * _UNIT[match.group(2)]


def format_duration(duration: timedelta) -> str:
    """The shortest spelling of `duration` in one unit: 28d, 12h, 5m, 30s, 500ms."""
    for unit in ("d", "h", "m", "s", "ms"):
        count = duration / _UNIT[unit]
        if count == int(count) and count:
            return f"{int(count)}{unit}"
    return f"{duration.total_seconds()}s"


def human_duration(duration: timedelta) -> str:
    """A duration for people to read, in its two largest units: 22h 24m, 5m, 2d 19h, 45s."""
    seconds = int(duration.total_seconds())
    parts = []
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts[:2]) or "0s"
