"""A clock tests set by hand, for the parts that take `clock` (injected, never patched)."""

from __future__ import annotations

from datetime import datetime, timedelta


class Clock:
    """Returns `now`; tests move it with `set` or `advance`."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> Clock:
        self.now = now
        return self

    def advance(self, by: timedelta) -> Clock:
        self.now += by
        return self


class Ticks:
    """A monotonic clock in seconds (as time.monotonic) that tests move with `advance`."""

    def __init__(self, now_s: float = 1000.0) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> Ticks:
        self.now_s += seconds
        return self
