"""From a task's ``webhook`` argument to a webhook block, a client and limits.

``webhook`` may be a saved block's name, a ``SlackAlertsWebhook``, a
``SlackAlertsRouter`` or None. None means ``$SLACK_WEBHOOK_URL`` when set, and
otherwise the local preview outbox, so flows run anywhere without Slack.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from typing import cast

from prefect.blocks.core import Block

from blocks import SlackAlertsRouter, SlackAlertsWebhook
from flows.limits import ModelLimits
from slack_alerts import DurableOutbox, RetryPolicy, SlackAlertClient
from slack_alerts.client import WEBHOOK_ENV
from slack_alerts.models import Alert
from slack_alerts.outbox import default_undelivered_dir

WebhookRef = str | SlackAlertsWebhook | SlackAlertsRouter | None

# Prefect owns transient retries inside tasks; the client only waits out
# 429s, so 3 task retries never multiply into a dozen HTTP requests.
TASK_RETRY_POLICY = RetryPolicy.rate_limit_only(max_retry_after_seconds=30, waits=2)
PREVIEW_LIMITS = ModelLimits()

_BLOCK_TTL_SECONDS = 30.0
_blocks: dict[str, tuple[float, SlackAlertsWebhook | SlackAlertsRouter]] = {}
_clients: dict[str, SlackAlertClient] = {}
_lock = threading.Lock()


class WebhookNotFound(LookupError):
    """No saved block has that name; the message says how to create one."""


def load_webhook(name: str) -> SlackAlertsWebhook | SlackAlertsRouter:
    """Load a saved webhook or router block by name (cached for 30 s)."""
    now = time.monotonic()
    with _lock:
        cached = _blocks.get(name)
        if cached and now - cached[0] < _BLOCK_TTL_SECONDS:
            return cached[1]
    candidates: list[type[SlackAlertsWebhook] | type[SlackAlertsRouter]] = [
        SlackAlertsWebhook,
        SlackAlertsRouter,
    ]
    block: SlackAlertsWebhook | SlackAlertsRouter | None = None
    if "/" in name:  # "slack-alerts-router/prod"
        loaded = cast(Block, Block.load(name, _sync=True))  # type: ignore[call-arg]
        if isinstance(loaded, SlackAlertsWebhook | SlackAlertsRouter):
            block = loaded
    else:
        for kind in candidates:
            try:
                block = cast(
                    SlackAlertsWebhook | SlackAlertsRouter,
                    kind.load(name, _sync=True),  # type: ignore[call-arg]
                )
                break
            except ValueError:
                continue
    if block is None:
        raise WebhookNotFound(
            f"No Slack Alerts Webhook or Router block named {name!r}. Create one in the "
            "Prefect UI (Blocks > + > Slack Alerts Webhook) or in code: "
            f"SlackAlertsWebhook(webhook_url=...).save({name!r})"
        )
    with _lock:
        _blocks[name] = (now, block)
    return block


def resolve_webhook(
    ref: WebhookRef, alert: Alert | None = None, *, kind: str = "", severity: str = "info"
) -> SlackAlertsWebhook | None:
    """The webhook block an alert (or a stored message of ``kind``) goes to.

    None means the local preview.
    """
    if isinstance(ref, str):
        ref = load_webhook(ref)
    if isinstance(ref, SlackAlertsRouter):
        if alert is not None:
            return ref.route(alert)
        return ref.route_for(kind, severity) if kind else ref.default
    if isinstance(ref, SlackAlertsWebhook):
        return ref
    url = os.environ.get(WEBHOOK_ENV)
    return SlackAlertsWebhook(webhook_url=url) if url else None


def _settings_key(block: SlackAlertsWebhook | None) -> str:
    if block is None:
        return "preview:" + os.environ.get("SLACK_ALERTS_OUTBOX", "")
    data = block.model_dump(mode="json", exclude={"webhook_url"})
    material = block.webhook_url.get_secret_value() + repr(sorted(data.items()))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def client_for(block: SlackAlertsWebhook | None) -> SlackAlertClient:
    """One pooled client per webhook settings, per process."""
    key = _settings_key(block) + ":" + str(default_undelivered_dir())
    with _lock:
        client = _clients.get(key)
        if client is None:
            if block is None:
                client = SlackAlertClient(webhook_url="", retry_policy=TASK_RETRY_POLICY)
            else:
                client = block.get_client(
                    retry_policy=TASK_RETRY_POLICY, durable_outbox=DurableOutbox()
                )
            _clients[key] = client
        return client


def limits_for(block: SlackAlertsWebhook | None) -> ModelLimits:
    if block is None:
        return PREVIEW_LIMITS
    return ModelLimits(
        rate_limit_per_minute=block.rate_limit_per_minute,
        burst=block.effective_burst,
        max_concurrent=block.max_concurrent_per_model,
    )


# The local preview waits longer: it runs on the SQLite-backed ephemeral
# API, where a slot request can stall ~2 s behind Prefect's own writers.
PREVIEW_WAIT_SECONDS = 30.0


def wait_budget(block: SlackAlertsWebhook | None) -> float:
    return PREVIEW_WAIT_SECONDS if block is None else block.rate_limit_wait_seconds


def clear_caches() -> None:
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
        _blocks.clear()
