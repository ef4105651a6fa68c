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
