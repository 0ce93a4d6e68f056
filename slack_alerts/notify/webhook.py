"""A Slack incoming webhook: pooled connections, retries, 429s, and Slack's "ok".

Success is Slack's acknowledgement, not the transport status: Slack answers
``200 ok``. A ``200`` with anything else (``invalid_payload``, a proxy's HTML
login page, an empty body) is not a delivery, and is classified like any
other failure. Response bodies are untrusted text: only a body shaped like
one of Slack's error codes is kept as the error; anything else is summarised
without echoing it, because error pages repeat the request path, and a
webhook's path is its secret.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from slack_alerts.delivery import DeliveryResult, DeliveryStatus, MessageMeta, WebhookResponse
from slack_alerts.logs import protect_secret, scrub
from slack_alerts.retry import (
    PERMANENT_SLACK_ERRORS,
    Attempt,
    RetryPolicy,
    deliver,
    is_permanent_status,
)
from slack_alerts.text import redact_url, safe_http_url, untrusted_text

# Slack's error codes are short snake_case words (channel_not_found).
_ERROR_CODE = re.compile(r"[a-z][a-z0-9_]{1,63}")
_BODY_READ_LIMIT = 2048
SLACK_OK = "ok"


def validate_webhook_url(url: str, *, name: str = "webhook_url") -> str:
    """Return ``url`` stripped, or raise ValueError naming ``name`` (never the value)."""
    candidate = url.strip() if isinstance(url, str) else ""
    if safe_http_url(candidate, max_length=2048) is None:
        raise ValueError(
            f"{name} must be an http(s) URL such as https://hooks.slack.com/services/T…/B…/…; "
            "copy it from the Slack app's Incoming Webhooks page"
        )
    return candidate


def classify_answer(response: WebhookResponse) -> tuple[DeliveryStatus, str, str]:
    """(status, error code, detail) for one HTTP answer, from Slack's webhook rules.

    ``200 ok`` is the only success. A Slack error code in the body is kept;
    4xx other than 408/429, and any documented permanent code, will not get
    better by retrying. Everything else is transient: kept and retried.
    """
    status, body = response.status_code, response.body
    code = body if _ERROR_CODE.fullmatch(body) else ""
    if status == 200 and body == SLACK_OK:
        return DeliveryStatus.SENT, "", ""
    if 200 <= status < 300:
        if code:
            kind = (
                DeliveryStatus.FAILED_PERMANENT
                if code in PERMANENT_SLACK_ERRORS
                else DeliveryStatus.FAILED_TRANSIENT
            )
            return kind, code, f"Slack answered {status} {code}"
        if not body:
            return (
                DeliveryStatus.FAILED_TRANSIENT,
                "empty_response",
                f"HTTP {status} with an empty body, not Slack's 'ok' (a proxy or a wrong URL?)",
            )
        return (
            DeliveryStatus.FAILED_TRANSIENT,
            "unexpected_response",
            f"HTTP {status} with a body that is not Slack's 'ok' (a proxy or login page?): "
            f"{untrusted_text(body, 80)!r}",
        )
    error = code or f"http_{status}"
    if is_permanent_status(status) or 300 <= status < 400 or code in PERMANENT_SLACK_ERRORS:
        return (
            DeliveryStatus.FAILED_PERMANENT,
            error,
            f"Slack rejected the message ({status} {error})",
        )
    return DeliveryStatus.FAILED_TRANSIENT, error, f"Slack answered {status} {error}"


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
            self._url, data=body, timeout=self.timeout_seconds, allow_redirects=False, stream=True
        )
        try:
            # A bounded read: an endless or huge error page must not fill memory.
            raw = response.raw.read(_BODY_READ_LIMIT, decode_content=True) or b""
            text = raw.decode(response.encoding or "utf-8", errors="replace").strip()
            return WebhookResponse(
                status_code=response.status_code,
                body=scrub(text),
                retry_after=response.headers.get("Retry-After"),
            )
        finally:
            response.close()

    def post(self, payload: dict[str, Any], meta: MessageMeta | None = None) -> DeliveryResult:
        fingerprint = meta.fingerprint if meta is not None else None
        try:
            body = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as exc:
            return DeliveryResult(
                status=DeliveryStatus.FAILED_PERMANENT,
                error="invalid_payload",
                detail=f"the message is not JSON: {type(exc).__name__}",
                fingerprint=fingerprint,
                destination=self.destination,
            )
        return deliver(
            lambda: self._classified(body),
            self.retry_policy,
            destination=self.destination,
            fingerprint=fingerprint,
            sleep=self._sleep,
        )

    def _classified(self, body: bytes) -> Attempt:
        try:
            response = self._attempt(body)
        except requests.Timeout as exc:
            return Attempt(
                DeliveryStatus.FAILED_TRANSIENT,
                error="timeout",
                detail=f"no answer within {self.timeout_seconds:g}s ({type(exc).__name__})",
            )
        except requests.ConnectionError as exc:
            return Attempt(
                DeliveryStatus.FAILED_TRANSIENT,
                error="connection_error",
                detail=f"could not connect to {self.destination} ({type(exc).__name__})",
            )
        except requests.RequestException as exc:
            return Attempt(
                DeliveryStatus.FAILED_PERMANENT,
                error="request_error",
                detail=untrusted_text(scrub(f"{type(exc).__name__}: {exc}")),
            )
        if response.status_code == 429:
            return Attempt(
                None, error="rate_limited", http_status=429, retry_after=response.retry_after
            )
        status, code, detail = classify_answer(response)
        return Attempt(status, error=code, http_status=response.status_code, detail=detail)
