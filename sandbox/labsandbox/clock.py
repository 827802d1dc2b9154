"""The sandbox's one clock.

Every behaviour reads time from a :class:`Clock` handed to it at install, never
from ``time`` directly.  The clock is real time plus an offset that only grows:
``POST /_sandbox/advance`` (and ``/_sandbox/tick`` with ``seconds``) moves the
offset forward, so tests can skip minutes of cooldowns, alarm periods or
retention in milliseconds while everything else keeps running in real time.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Callable


class Clock:
    """Monotonic seconds and wall-clock time, both shifted by ``offset``."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic, epoch: Callable[[], float] = time.time) -> None:
        self._monotonic = monotonic
        self._epoch = epoch
        self._lock = threading.Lock()
        self.offset = 0.0
        self.started = monotonic()
        self.ticks = 0

    def now(self) -> float:
        """Monotonic seconds: use for durations and ages."""
        return self._monotonic() + self.offset

    def epoch(self) -> float:
        """Seconds since 1970 (UTC), as AWS timestamps count them."""
        return self._epoch() + self.offset

    def wall(self) -> datetime:
        """The current time as an aware UTC datetime, for AWS-visible timestamps."""
        return datetime.fromtimestamp(self.epoch(), timezone.utc)

    def advance(self, seconds: float) -> None:
        """Move the clock forward; it never goes back."""
        seconds = float(seconds)
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self.offset += seconds

    def seconds(self) -> float:
        """Seconds since the sandbox started, advances included."""
        return self.now() - self.started
