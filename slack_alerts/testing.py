"""A real HTTP server on 127.0.0.1 that behaves like a Slack incoming webhook.

For tests, benchmarks and the demo: it records every request, answers from
a script (status, body, Retry-After, delay, dropped connection), and can
enforce Slack's per-webhook rate limit with a token bucket, answering 429
with ``Retry-After`` beyond it.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_SUPPRESSED = re.compile(r"(\d+) more alerts? suppressed since")


@dataclass(frozen=True)
class ScriptedResponse:
    """One answer. ``drop`` closes the connection without answering."""

    status: int = 200
    body: str = "ok"
    retry_after: str | None = None
    delay_seconds: float = 0.0
    drop: bool = False


@dataclass(frozen=True)
class RecordedRequest:
    at: float  # time.monotonic() when the request was read
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 0
    client_port: int = 0  # distinct ports = distinct TCP connections

    def json(self) -> Any:
        return json.loads(self.body)


class _TokenBucket:
    def __init__(self, rate_per_second: float, burst: int) -> None:
        self.rate = rate_per_second
        self.capacity = float(burst)
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def take(self) -> float:
        """0 if a token was taken, else seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class LocalWebhookServer:
    """``with LocalWebhookServer() as server: post to server.url``."""

    def __init__(
        self,
        *,
        rate_limit_per_second: float | None = None,
        burst: int = 1,
        secret: str = "XXXXXXXXXXXXXXXXXXXXXXXX",  # noqa: S107 - a fake webhook token
    ) -> None:
        self.path = f"/services/T00000000/B00000000/{secret}"
        self._script: deque[ScriptedResponse] = deque()
        self._lock = threading.Lock()
        self._bucket = _TokenBucket(rate_limit_per_second, burst) if rate_limit_per_second else None
        self.requests: list[RecordedRequest] = []
        self.default = ScriptedResponse()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def start(self) -> LocalWebhookServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalWebhookServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, responses: Iterable[ScriptedResponse]) -> None:
        """Answer the next requests with these, then with ``default``."""
        with self._lock:
            self._script.extend(responses)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()

    def payloads(self) -> list[Any]:
        with self._lock:
            return [r.json() for r in self.requests if r.status == 200]

    def delivered(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.status == 200]

    def reported_suppressed(self) -> int:
        """Sum of the "N more alerts suppressed" counts in delivered messages."""
        return sum(
            int(match.group(1))
            for payload in self.payloads()
            if (match := _SUPPRESSED.search(str(payload.get("text", ""))))
        )

    def max_in_window(self, window_seconds: float) -> int:
        """Most delivered requests in any window of this length."""
        times = sorted(r.at for r in self.delivered())
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= window_seconds:
                start += 1
            best = max(best, end - start + 1)
        return best

    def _next(self, path: str) -> ScriptedResponse:
        with self._lock:
            if path != self.path:
                return ScriptedResponse(status=404, body="no_service")
            if self._script:
                return self._script.popleft()
            if self._bucket is not None:
                wait = self._bucket.take()
                if wait > 0:
                    return ScriptedResponse(
                        status=429, body="rate_limited", retry_after=str(math.ceil(wait))
                    )
            return self.default

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; without this,
            # Nagle + delayed ACK adds ~40 ms to every keep-alive request.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return None  # keep test output clean; requests are recorded instead

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                arrived = time.monotonic()
                answer = server._next(self.path)
                if answer.delay_seconds:
                    time.sleep(answer.delay_seconds)
                server._record(
                    RecordedRequest(
                        at=arrived,
                        path=self.path,
                        body=body,
                        headers=dict(self.headers.items()),
                        status=0 if answer.drop else answer.status,
                        client_port=int(self.client_address[1]),
                    )
                )
                if answer.drop:
                    self.close_connection = True
                    return
                data = answer.body.encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(data)))
                    if answer.retry_after is not None:
                        self.send_header("Retry-After", answer.retry_after)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        return Handler


def fleet_inference_log(
    model_ids: Iterable[str],
    end: Any,
    hours: int,
    rows_per_hour: int,
    features: int,
    *,
    drifted: Iterable[str] = (),
    seed: int = 0,
) -> Any:
    """A synthetic inference log of many models in one table (a pandas DataFrame).

    Columns: ``model_id``, ``ts`` (UTC, ``rows_per_hour`` rows in each of the
    ``hours`` hours before ``end``), ``f00``... (``features`` floats, N(0, 1)),
    ``score`` (in [0, 1]) and ``label`` (0/1). Models in ``drifted`` have
    every feature shifted by +1 sd in the last hour. Deterministic for a seed.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    ids = list(model_ids)
    shifted = set(drifted)
    per_model = hours * rows_per_hour
    last = pd.Timestamp(end)
    last = last.tz_localize("UTC") if last.tzinfo is None else last.tz_convert("UTC")
    offsets = np.repeat(np.arange(hours, 0, -1), rows_per_hour) * 3600.0
    frames = []
    for model_id in ids:
        values = rng.standard_normal((per_model, features))
        seconds = offsets - rng.uniform(0, 3600.0, per_model)
        if model_id in shifted:
            values[seconds <= 3600.0] += 1.0
        score = 1.0 / (1.0 + np.exp(-values[:, 0]))
        frame = pd.DataFrame(values, columns=[f"f{i:02d}" for i in range(features)])
        frame.insert(0, "ts", last - pd.to_timedelta(seconds, unit="s"))
        frame.insert(0, "model_id", model_id)
        frame["score"] = score
        frame["label"] = (rng.uniform(size=per_model) < score).astype(np.int64)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
