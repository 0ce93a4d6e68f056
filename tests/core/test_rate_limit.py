from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from slack_alerts import RateLimiter
from slack_alerts.state import NotificationLog


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestRateLimiter:
    def test_allows_up_to_limit_per_key(self) -> None:
        clock = FakeClock()
        rl = RateLimiter(3, 60, clock=clock)
        assert [rl.is_allowed("a") for _ in range(4)] == [True, True, True, False]
        assert rl.is_allowed("b")  # keys are independent

    def test_sliding_window(self) -> None:
        clock = FakeClock()
        rl = RateLimiter(2, 10, clock=clock)
        assert rl.is_allowed("a")
        clock.now += 4
        assert rl.is_allowed("a")
        assert not rl.is_allowed("a")
        assert rl.get_retry_after("a") == pytest.approx(6.0)
        clock.now += 6
        assert rl.get_retry_after("a") == 0.0
        assert rl.is_allowed("a")  # first hit left the window
        assert not rl.is_allowed("a")  # second is still inside

    def test_retry_after_zero_for_unknown_or_free(self) -> None:
        rl = RateLimiter(2, 10, clock=FakeClock())
        assert rl.get_retry_after("nobody") == 0.0
        rl.is_allowed("a")
        assert rl.get_retry_after("a") == 0.0

    def test_idle_keys_expire(self) -> None:
        clock = FakeClock()
        rl = RateLimiter(1, 10, clock=clock)
        for i in range(1000):
            rl.is_allowed(f"model-{i}")
        assert len(rl) == 1000
        clock.now += 11
        rl.is_allowed("fresh")
        assert len(rl) == 1

    def test_max_keys_bounds_memory(self) -> None:
        rl = RateLimiter(1, 3600, max_keys=100, clock=FakeClock())
        for i in range(10_000):
            rl.is_allowed(f"k{i}")
        assert len(rl) == 100

    def test_thread_safe(self) -> None:
        rl = RateLimiter(500, 60)
        allowed: list[bool] = []
        lock = threading.Lock()

        def worker() -> None:
            mine = [rl.is_allowed("shared") for _ in range(200)]
            with lock:
                allowed.extend(mine)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(allowed) == 500 and len(allowed) == 1600

    @pytest.mark.parametrize(("n", "w"), [(0, 60), (1, 0), (1, -1)])
    def test_bad_settings(self, n: int, w: float) -> None:
        with pytest.raises(ValueError):
            RateLimiter(n, w)


class TestSuppressedCounts:
    def test_counts_and_earliest_since(self) -> None:
        log = NotificationLog("receiver", "m")
        t1 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
        t0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
        log.add_suppressed(1, t1)
        summary = log.add_suppressed(2, t0)
        assert summary.count == 3 and summary.since == t0
        assert log.add_suppressed(1, t1).since == t0  # a later hold-back keeps the earliest
