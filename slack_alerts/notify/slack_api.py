"""Slack's Web API with a bot token: messages that can be updated and threaded.

``SlackApiNotifier`` posts with ``chat.postMessage``, edits with
``chat.update`` and replies in a thread with ``chat.postMessage`` and
``thread_ts``, through slack_sdk's ``WebClient``. It is a ``Notifier`` and a
``MessageEditor`` (``slack_alerts.messaging``): the pipeline keeps each
group's ``(channel, ts)`` in its notification log and edits that message.

Retries are ours, one way for every notifier (``slack_alerts.retry.deliver``):
slack_sdk's own retry handlers are switched off, a 429 / ``ratelimited`` is
waited out for its ``Retry-After``, and Slack's error codes are classified
like the webhook's (``channel_not_found``, ``not_in_channel``,
``invalid_auth``, ``account_inactive``, ``msg_too_long`` are permanent).
The token never appears in a repr, an error or a log line.
"""

from __future__ import annotations

import re
import time
import urllib.error
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from slack_alerts.delivery import DeliveryResult, DeliveryStatus, MessageMeta, MessageRef
from slack_alerts.logs import protect_secret, scrub
from slack_alerts.retry import PERMANENT_SLACK_ERRORS, Attempt, RetryPolicy, deliver
from slack_alerts.text import untrusted_text

SLACK_API_URL = "https://slack.com/api/"
BOT_TOKEN_PATTERN = re.compile(r"xoxb-[A-Za-z0-9-]{1,250}")
# chat.update takes the content only; who posted and where stay the original's.
_UPDATE_KEYS = ("text", "blocks", "attachments")
_POST_KEYS = ("text", "blocks", "attachments", "username", "icon_emoji", "unfurl_links")
_ERROR_CODE = re.compile(r"[a-z][a-z0-9_]{1,63}")


def validate_bot_token(token: str, *, name: str = "bot_token") -> str:
    """``token`` stripped, or ValueError naming ``name`` (never the value)."""
    candidate = token.strip() if isinstance(token, str) else ""
    if not BOT_TOKEN_PATTERN.fullmatch(candidate):
        raise ValueError(
            f"{name} must be a Slack bot token (xoxb-…); copy it from the Slack app's "
            "OAuth & Permissions page"
        )
    return candidate


def classify_api_error(status_code: int, error: str) -> DeliveryStatus | None:
    """The status for a Web API answer that was not ``ok`` (None: rate limited, wait)."""
    if status_code == 429 or error == "ratelimited":
        return None
    if error in PERMANENT_SLACK_ERRORS:
        return DeliveryStatus.FAILED_PERMANENT
    if 400 <= status_code < 500 and status_code != 408:
        return DeliveryStatus.FAILED_PERMANENT
    return DeliveryStatus.FAILED_TRANSIENT


class SlackApiNotifier:
    """Posts, updates and threads messages in Slack with a bot token.

    - ``channel``: where a message without its own ``channel`` goes (a route's
      channel comes in the payload, from ``FormatOptions.channel``);
    - ``base_url``: Slack's API, or a local stand-in
      (``slack_alerts.testing_slack.LocalSlackApi``);
    - ``retry_policy``: as for the webhook; inside Prefect tasks,
      ``RetryPolicy.rate_limit_only()``.
    """

    def __init__(
        self,
        token: str,
        *,
        channel: str | None = None,
        base_url: str = SLACK_API_URL,
        timeout_seconds: float = 10.0,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        secret = validate_bot_token(token)
        protect_secret(secret)
        self.channel = channel
        self.base_url = base_url
        self.timeout_seconds = timeout_seconds
        self.retry_policy = retry_policy or RetryPolicy()
        self._sleep = sleep
        # retry_handlers=[]: the retry loop is ours (slack_alerts.retry.deliver).
        self.client = WebClient(
            token=secret, base_url=base_url, timeout=max(1, round(timeout_seconds))
        )
        self.client.retry_handlers = []
        self.destination = f"Slack Web API {channel or '(channel per message)'}"

    def __repr__(self) -> str:
        return f"SlackApiNotifier(destination={self.destination!r})"

    def close(self) -> None:
        return None

    # -- the Notifier / MessageEditor interface -------------------------------------
    def post(self, payload: dict[str, Any], meta: MessageMeta | None = None) -> DeliveryResult:
        channel = str(payload.get("channel") or self.channel or "")
        if not channel:
            return self._refused(meta, "channel_not_set", "no channel: set the block's channel")
        args = {k: payload[k] for k in _POST_KEYS if k in payload}
        return self._call("chat.postMessage", {"channel": channel, **args}, meta, posts=True)

    def update(
        self, ref: MessageRef, payload: dict[str, Any], meta: MessageMeta | None = None
    ) -> DeliveryResult:
        args = {k: payload[k] for k in _UPDATE_KEYS if k in payload}
        return self._call("chat.update", {"channel": ref.channel, "ts": ref.ts, **args}, meta)

    def reply(
        self, ref: MessageRef, payload: dict[str, Any], meta: MessageMeta | None = None
    ) -> DeliveryResult:
        args = {k: payload[k] for k in _POST_KEYS if k in payload}
        return self._call(
            "chat.postMessage", {"channel": ref.channel, "thread_ts": ref.ts, **args}, meta
        )

    # -- one call -------------------------------------------------------------------
    def _refused(self, meta: MessageMeta | None, error: str, detail: str) -> DeliveryResult:
        return DeliveryResult(
            status=DeliveryStatus.FAILED_PERMANENT,
            error=error,
            detail=detail,
            fingerprint=meta.fingerprint if meta is not None else None,
            destination=self.destination,
        )

    def _call(
        self,
        method: str,
        body: dict[str, Any],
        meta: MessageMeta | None,
        *,
        posts: bool = False,
    ) -> DeliveryResult:
        """One Web API call under the retry policy; ``posts``: a new top-level message."""
        return deliver(
            lambda: self._attempt(method, body, posts),
            self.retry_policy,
            destination=self.destination,
            fingerprint=meta.fingerprint if meta is not None else None,
            sleep=self._sleep,
        )

    def _attempt(self, method: str, body: dict[str, Any], posts: bool) -> Attempt:
        try:
            response = self.client.api_call(method, json=body)
        except SlackApiError as exc:
            answer = exc.response
            data = answer.data if isinstance(answer.data, dict) else {}
            raw = str(data.get("error") or "")
            code = raw if _ERROR_CODE.fullmatch(raw) else f"http_{answer.status_code}"
            status = classify_api_error(answer.status_code, code)
            retry_after = answer.headers.get("Retry-After") or answer.headers.get("retry-after")
            return Attempt(
                status,
                error=code,
                http_status=answer.status_code,
                detail=f"Slack answered {method} with {answer.status_code} {code}",
                retry_after=retry_after if isinstance(retry_after, str) else None,
            )
        except TimeoutError as exc:
            return Attempt(
                DeliveryStatus.FAILED_TRANSIENT,
                error="timeout",
                detail=f"no answer within {self.timeout_seconds:g}s ({type(exc).__name__})",
            )
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            return Attempt(
                DeliveryStatus.FAILED_TRANSIENT,
                error="connection_error",
                detail=f"could not reach {self.base_url}{method} ({type(exc).__name__})",
            )
        except (SlackClientError, ValueError) as exc:
            return Attempt(
                DeliveryStatus.FAILED_TRANSIENT,
                error="unexpected_response",
                detail=untrusted_text(scrub(f"{method}: {type(exc).__name__}"), 200),
            )
        ts, channel = response.get("ts"), response.get("channel")
        ref = (
            MessageRef(str(channel), str(ts))
            if posts and isinstance(ts, str) and isinstance(channel, str)
            else None
        )
        return Attempt(DeliveryStatus.SENT, http_status=response.status_code, message_ref=ref)
