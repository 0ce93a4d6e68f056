"""Posting payloads: to a Slack webhook, or to the local preview outbox.

Both transports share one small interface, ``post(payload, meta) ->
DeliveryResult``, so the client does not care where a message goes.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter

from slack_alerts.delivery import DeliveryResult, DeliveryStatus, WebhookResponse
from slack_alerts.logs import logger, protect_secret, scrub
from slack_alerts.outbox import write_json_atomically
from slack_alerts.retry import RetryPolicy, is_permanent_status
from slack_alerts.text import redact_url, safe_http_url

MAX_ERROR_CODE = 100


class Transport(Protocol):
    """Where messages go. ``destination`` is safe to log."""

    destination: str

    def post(
        self, payload: dict[str, Any], meta: dict[str, Any] | None = None
    ) -> DeliveryResult: ...

    def close(self) -> None: ...


def validate_webhook_url(url: str, *, name: str = "webhook_url") -> str:
    """Return ``url`` stripped, or raise ValueError naming ``name`` (never the value)."""
    candidate = url.strip() if isinstance(url, str) else ""
    if safe_http_url(candidate, max_length=2048) is None:
        raise ValueError(
            f"{name} must be an http(s) URL such as https://hooks.slack.com/services/T…/B…/…; "
            "copy it from the Slack app's Incoming Webhooks page"
        )
    return candidate


class WebhookSender:
    """Posts JSON to one incoming webhook over a pooled ``requests.Session``."""

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float = 10.0,
        retry_policy: RetryPolicy | None = None,
        pool_maxsize: int = 10,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = validate_webhook_url(url)
        protect_secret(self._url)
        self.destination = redact_url(self._url)
        self.timeout_seconds = timeout_seconds
        self.retry_policy = retry_policy or RetryPolicy()
        self._sleep = sleep
        self._session = requests.Session()
        # We own retries (and their logging); urllib3 must not add its own.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_maxsize, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers["Content-Type"] = "application/json; charset=utf-8"

    def __repr__(self) -> str:
        return f"WebhookSender(destination={self.destination!r})"

    def close(self) -> None:
        self._session.close()

    def _attempt(self, body: bytes) -> WebhookResponse:
        response = self._session.post(
            self._url, data=body, timeout=self.timeout_seconds, allow_redirects=False
        )
        try:
            return WebhookResponse(
                status_code=response.status_code,
                body=response.text[:MAX_ERROR_CODE].strip(),
                retry_after=response.headers.get("Retry-After"),
            )
        finally:
            response.close()

    def post(self, payload: dict[str, Any], meta: dict[str, Any] | None = None) -> DeliveryResult:
        fingerprint = (meta or {}).get("fingerprint")
        body = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")
        policy = self.retry_policy
        started = time.monotonic()
        attempts = transient_retries = rate_limit_waits = 0
        last_error, last_status, last_detail = "unknown", None, ""
        retry_after: float | None = None

        def result(status: DeliveryStatus, **kw: Any) -> DeliveryResult:
            return DeliveryResult(
                status=status,
                attempts=attempts,
                elapsed_seconds=time.monotonic() - started,
                fingerprint=fingerprint,
                destination=self.destination,
                **kw,
            )

        while True:
            attempts += 1
            try:
                response = self._attempt(body)
            except requests.Timeout as exc:
                last_error, last_status, last_detail = "timeout", None, scrub(str(exc))
            except requests.ConnectionError as exc:
                last_error, last_status, last_detail = "connection_error", None, scrub(str(exc))
            except requests.RequestException as exc:
                return result(
                    DeliveryStatus.FAILED_PERMANENT,
                    error="request_error",
                    detail=scrub(f"{type(exc).__name__}: {exc}"),
                )
            else:
                if response.ok:
                    return result(DeliveryStatus.SENT, http_status=response.status_code)
                code = response.body or f"http_{response.status_code}"
                if response.status_code == 429:
                    retry_after = policy.retry_after_seconds(response.retry_after)
                    if rate_limit_waits >= policy.max_rate_limit_waits:
                        return result(
                            DeliveryStatus.FAILED_TRANSIENT,
                            error="rate_limited",
                            http_status=429,
                            retry_after_seconds=retry_after,
                            detail="Slack kept answering 429 after waiting out Retry-After",
                        )
                    rate_limit_waits += 1
                    logger.info(
                        "slack 429 from %s; waiting %.2fs (wait %d of %d)",
                        self.destination,
                        retry_after,
                        rate_limit_waits,
                        policy.max_rate_limit_waits,
                    )
                    self._sleep(retry_after)
                    continue
                if is_permanent_status(response.status_code) or 300 <= response.status_code < 400:
                    return result(
                        DeliveryStatus.FAILED_PERMANENT,
                        error=code,
                        http_status=response.status_code,
                        detail=f"Slack rejected the message ({response.status_code} {code})",
                    )
                last_error, last_status = code, response.status_code
                last_detail = f"Slack answered {response.status_code} {code}"
            if transient_retries >= policy.max_retries:
                return result(
                    DeliveryStatus.FAILED_TRANSIENT,
                    error=last_error,
                    http_status=last_status,
                    detail=last_detail,
                )
            transient_retries += 1
            delay = policy.backoff_seconds(transient_retries)
            logger.info(
                "transient failure posting to %s (%s); retry %d of %d in %.2fs",
                self.destination,
                last_error,
                transient_retries,
                policy.max_retries,
                delay,
            )
            self._sleep(delay)


def default_outbox_dir() -> Path:
    """``$SLACK_ALERTS_OUTBOX``, else ``./outbox``."""
    return Path(os.environ.get("SLACK_ALERTS_OUTBOX") or "outbox")


class PreviewSink:
    """Writes payloads as JSON files, for running without a Slack workspace.

    Files are named ``<ns-timestamp>-<fingerprint>-<pid>.json`` and written
    atomically (temp file, fsync, rename), so a reader never sees half a message.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_outbox_dir()
        self.destination = f"local preview outbox {self.directory}"
        self._lock = threading.Lock()
        self._last_ns = 0

    def __repr__(self) -> str:
        return f"PreviewSink(directory={str(self.directory)!r})"

    def close(self) -> None:
        return None

    def _unique_ns(self) -> int:
        with self._lock:
            self._last_ns = max(time.time_ns(), self._last_ns + 1)
            return self._last_ns

    def post(self, payload: dict[str, Any], meta: dict[str, Any] | None = None) -> DeliveryResult:
        started = time.monotonic()
        meta = dict(meta or {})
        fingerprint = meta.get("fingerprint")
        stamp = self._unique_ns()
        record = {"written_at_ns": stamp, **meta, "payload": payload}
        target = self.directory / f"{stamp}-{fingerprint or 'message'}-{os.getpid()}.json"
        try:
            write_json_atomically(target, record)
        except OSError as exc:
            return DeliveryResult(
                status=DeliveryStatus.FAILED_TRANSIENT,
                attempts=1,
                error="outbox_write_failed",
                detail=f"could not write to {self.directory}: {exc.strerror}",
                elapsed_seconds=time.monotonic() - started,
                fingerprint=fingerprint,
                destination=self.destination,
            )
        return DeliveryResult(
            status=DeliveryStatus.SENT,
            attempts=1,
            elapsed_seconds=time.monotonic() - started,
            fingerprint=fingerprint,
            destination=self.destination,
            location=str(target),
        )


def read_outbox(directory: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Preview records, oldest first."""
    folder = Path(directory) if directory is not None else default_outbox_dir()
    if not folder.is_dir():
        return []
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]
