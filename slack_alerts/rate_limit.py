"""In-process, per-key rate limiting (the embedded gate's limiter).

Inside Prefect flows the limits live on the Prefect server instead
(``flows.backend.gate``), so they hold across workers.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class RateLimiter:
    """Sliding-window limiter: at most N messages per key in any window.

    Thread-safe. Memory is bounded: keys idle for a whole window are
    forgotten, and past ``max_keys`` the least recently used key is evicted
    (which can at worst let that key send early, never block it forever).
    """

    def __init__(
        self,
        max_messages_per_window: int = 10,
        window_size_seconds: float = 60.0,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_messages_per_window < 1:
            raise ValueError("max_messages_per_window must be >= 1")
        if not window_size_seconds > 0:
            raise ValueError("window_size_seconds must be > 0")
        if max_keys < 1:
            raise ValueError("max_keys must be >= 1")
        self.max_messages_per_window = max_messages_per_window
        self.window_size_seconds = float(window_size_seconds)
        self.max_keys = max_keys
        self._clock = clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._hits)

    def _expire(self, now: float) -> None:
        horizon = now - self.window_size_seconds
        # Keys are kept in least-recently-used order, so idle ones sit at the
        # front and the scan stops at the first active key.
        while self._hits:
            key, hits = next(iter(self._hits.items()))
            if hits and hits[-1] > horizon:
                break
            del self._hits[key]

    def _window(self, key: str, now: float) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            hits = deque()
            self._hits[key] = hits
        horizon = now - self.window_size_seconds
        while hits and hits[0] <= horizon:
            hits.popleft()
        return hits

    def is_allowed(self, key: str) -> bool:
        """Record one message for ``key`` and say whether it may go now."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            hits = self._window(key, now)
            if len(hits) >= self.max_messages_per_window:
                return False
            hits.append(now)
            self._hits.move_to_end(key)
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
            return True

    def get_retry_after(self, key: str) -> float:
        """Seconds until ``key`` may send again (0 when it may send now)."""
        with self._lock:
            now = self._clock()
            hits = self._hits.get(key)
            if not hits:
                return 0.0
            horizon = now - self.window_size_seconds
            live = [t for t in hits if t > horizon]
            if len(live) < self.max_messages_per_window:
                return 0.0
            return max(0.0, live[0] + self.window_size_seconds - now)

    def reset(self, key: str | None = None) -> None:
        with self._lock:
            if key is None:
                self._hits.clear()
            else:
                self._hits.pop(key, None)
