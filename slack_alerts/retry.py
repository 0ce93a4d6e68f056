"""When to try a webhook post again, and how long to wait first.

A strategy object, as in slack_sdk's ``RetryHandler``: the sender asks the
policy and never hard-codes a loop of its own. Inside a Prefect task the
policy is ``RetryPolicy.rate_limit_only()``: Prefect owns transient retries
there, and the client only waits out 429s.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from slack_alerts.delivery import DeliveryResult, DeliveryStatus, MessageRef
from slack_alerts.logs import logger

# Slack's documented permanent webhook errors. Anything 4xx other than 408
# and 429 is treated as permanent too; this list is for the reader.
PERMANENT_SLACK_ERRORS = frozenset(
    {
        "invalid_payload",
        "invalid_blocks",
        "invalid_blocks_format",
        "no_text",
        "too_many_attachments",
        "user_not_found",
        "action_prohibited",
        "invalid_token",
        "team_disabled",
        "posting_to_general_channel_denied",
        "channel_not_found",
        "no_service",
        "no_service_id",
        "no_team",
        "channel_is_archived",
        # Web API (bot token) errors that no retry fixes.
        "not_in_channel",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "msg_too_long",
        "missing_scope",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "is_archived",
    }
)


@dataclass(frozen=True)
class RetryPolicy:
    """Retry transient failures with exponential backoff; wait out 429s.

    - ``max_retries``: retries after connection errors, timeouts and 5xx.
    - ``backoff_factor``: first backoff in seconds; doubles each retry, with
      +/- ``jitter_ratio`` random spread so many workers do not retry in step.
    - ``max_rate_limit_waits``: how many 429s to wait out, each for its
      ``Retry-After`` capped at ``max_retry_after_seconds``.
    """

    max_retries: int = 3
    backoff_factor: float = 1.0
    max_backoff_seconds: float = 30.0
    jitter_ratio: float = 0.25
    max_retry_after_seconds: float = 60.0
    max_rate_limit_waits: int = 3

    def __post_init__(self) -> None:
        for name in ("max_retries", "max_rate_limit_waits"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("backoff_factor", "max_backoff_seconds", "max_retry_after_seconds"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0")
        if not 0 <= self.jitter_ratio <= 1:
            raise ValueError("jitter_ratio must be between 0 and 1")

    @classmethod
    def rate_limit_only(cls, max_retry_after_seconds: float = 60.0, waits: int = 3) -> RetryPolicy:
        """For callers that own transient retries themselves (Prefect tasks)."""
        return cls(
            max_retries=0,
            max_retry_after_seconds=max_retry_after_seconds,
            max_rate_limit_waits=waits,
        )

    def backoff_seconds(self, retry_number: int) -> float:
        """Delay before transient retry ``retry_number`` (1-based)."""
        base = min(self.max_backoff_seconds, self.backoff_factor * 2.0 ** (retry_number - 1))
        spread = base * self.jitter_ratio
        return max(0.0, base + random.uniform(-spread, spread))  # noqa: S311 - jitter, not crypto

    def retry_after_seconds(self, header: str | None, now: datetime | None = None) -> float:
        """Seconds to wait for a 429, from ``Retry-After`` (seconds or HTTP-date)."""
        wait = parse_retry_after(header, now)
        if wait is None:
            wait = max(1.0, self.backoff_factor)
        return min(wait, self.max_retry_after_seconds)


def parse_retry_after(header: str | None, now: datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` value; None when absent or unreadable."""
    if header is None:
        return None
    value = header.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return None if math.isnan(seconds) else max(0.0, seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def is_permanent_status(status_code: int) -> bool:
    """4xx other than 408 (timeout) and 429 (slow down) will not get better."""
    return 400 <= status_code < 500 and status_code not in (408, 429)


@dataclass(frozen=True)
class Attempt:
    """What one HTTP attempt of a notifier came to.

    ``status`` None means Slack said 429 / ``ratelimited``: wait ``retry_after``
    (the header's text) and try again. ``message_ref`` is set on success when
    the message can be addressed again (the Web API).
    """

    status: DeliveryStatus | None
    error: str = ""
    http_status: int | None = None
    detail: str = ""
    retry_after: str | None = None
    message_ref: MessageRef | None = None


def deliver(
    attempt: Callable[[], Attempt],
    policy: RetryPolicy,
    *,
    destination: str,
    fingerprint: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryResult:
    """Run ``attempt`` under ``policy``: wait out 429s, back off on transient failures.

    The one retry loop of every notifier (webhook and Web API); never raises
    for what ``attempt`` reports (``attempt`` turns its transport's exceptions
    into an ``Attempt``).
    """
    started = time.monotonic()
    attempts = transient_retries = rate_limit_waits = 0

    def result(status: DeliveryStatus, answer: Attempt, **kw: object) -> DeliveryResult:
        return DeliveryResult(
            status=status,
            attempts=attempts,
            error=answer.error or None,
            http_status=answer.http_status,
            detail=answer.detail,
            elapsed_seconds=time.monotonic() - started,
            fingerprint=fingerprint,
            destination=destination,
            message_ref=answer.message_ref,
            **kw,  # type: ignore[arg-type]
        )

    while True:
        attempts += 1
        answer = attempt()
        if answer.status is None:
            wait = policy.retry_after_seconds(answer.retry_after)
            if rate_limit_waits >= policy.max_rate_limit_waits:
                return result(
                    DeliveryStatus.FAILED_TRANSIENT,
                    Attempt(
                        None,
                        error=answer.error or "rate_limited",
                        http_status=answer.http_status,
                        detail="Slack kept answering 429 after waiting out Retry-After",
                    ),
                    retry_after_seconds=wait,
                )
            rate_limit_waits += 1
            logger.info(
                "slack 429 from %s; waiting %.2fs (wait %d of %d)",
                destination,
                wait,
                rate_limit_waits,
                policy.max_rate_limit_waits,
            )
            sleep(wait)
            continue
        if answer.status is not DeliveryStatus.FAILED_TRANSIENT:
            return result(answer.status, answer)
        if transient_retries >= policy.max_retries:
            return result(answer.status, answer)
        transient_retries += 1
        delay = policy.backoff_seconds(transient_retries)
        logger.info(
            "transient failure posting to %s (%s); retry %d of %d in %.2fs",
            destination,
            answer.error,
            transient_retries,
            policy.max_retries,
            delay,
        )
        sleep(delay)
