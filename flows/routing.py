"""From a task's ``webhook`` argument to the pipeline's router and outbox route.

``webhook`` may be:

- the name of a saved Slack Alerts Webhook, Bot or Router block (a bot block
  posts with its bot token to its channel, updates messages in place, and its
  messages carry the Acknowledge / Silence buttons);
- a webhook URL (``https://hooks.slack.com/services/…``): used as a webhook,
  never looked up as a name, never echoed;
- a ``SlackAlertsWebhook`` or ``SlackAlertsRouter`` object;
- None: ``$SLACK_WEBHOOK_URL`` when set, otherwise the local preview outbox,
  so flows run anywhere without Slack.

Blocks are loaded every time they are resolved (once per flow run for the
monitoring flows), never cached by name: an edited block, say a rotated
webhook URL, takes effect on the next send in every long-running worker.
Only the HTTP connection pools are kept, keyed by the URL itself.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from datetime import timedelta
from typing import Any, cast

from prefect.blocks.core import Block
from prefect.exceptions import ObjectNotFound

from blocks import SlackAlertsBot, SlackAlertsRouter, SlackAlertsWebhook
from flows.backend.controlplane import ControlPlane, ControlPlaneUnavailable
from slack_alerts import RetryPolicy
from slack_alerts.client import WEBHOOK_ENV
from slack_alerts.formatting import FormatOptions, normalize_mention
from slack_alerts.notify.base import Notifier
from slack_alerts.notify.preview import PreviewSink, default_outbox_dir
from slack_alerts.notify.slack_api import SlackApiNotifier
from slack_alerts.notify.webhook import WebhookSender
from slack_alerts.routing import (
    KindRouter,
    Receiver,
    ReceiverSettings,
    Route,
    Router,
    StaticRouter,
    receiver_key,
)
from slack_alerts.text import looks_like_secret

WebhookRef = str | SlackAlertsWebhook | SlackAlertsBot | SlackAlertsRouter | None
AnyBlock = SlackAlertsWebhook | SlackAlertsBot | SlackAlertsRouter

# Prefect owns transient retries inside tasks; the client only waits out
# 429s, so 3 task retries never multiply into a dozen HTTP requests.
TASK_RETRY_POLICY = RetryPolicy.rate_limit_only(max_retry_after_seconds=30, waits=2)
# The local preview waits longer for a rate slot: it runs on the SQLite-backed
# embedded API, where a slot request can stall ~2 s behind Prefect's own writers.
PREVIEW_SETTINGS = ReceiverSettings(rate_limit_wait_seconds=30.0)
_SENDERS_KEPT = 64


class WebhookNotFound(LookupError):
    """No saved block has that name; the message says how to create one."""


class WebhookInvalid(LookupError):
    """A saved block holds values that fail validation; the message names the fields."""


def invalid_block_message(name: str, exc: BaseException) -> str | None:
    """One line for a saved block whose values fail validation, or None if that is not it.

    The UI and the API store whatever they are sent; a bad value only shows
    when the block is loaded, as Prefect's RuntimeError caused by a
    ValidationError.
    """
    from pydantic import ValidationError

    cause = exc.__cause__
    if not isinstance(cause, ValidationError):
        return None
    # A route may be a webhook or a bot block: pydantic names the union's member
    # in the location (default.SlackAlertsWebhook.webhook_url); people need the field.
    members = {SlackAlertsWebhook.__name__, SlackAlertsBot.__name__}
    errors: list[dict[str, Any]] = [
        {**error, "loc": tuple(part for part in error["loc"] if part not in members)}
        for error in cause.errors()
    ]
    # Only locations and messages: the rejected input may be the secret URL.
    problems = "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: "
        + str(error["msg"]).removeprefix("Value error, ")
        for error in errors
    )
    routes = sorted({str(e["loc"][0]) for e in errors if len(e["loc"]) > 1})
    if routes:  # a router, whose route points at a bad webhook block
        fix = (
            f"fix the webhook block its {', '.join(routes)} route uses, in the Prefect UI "
            "(Blocks > that block > Edit) or with "
            "`slack-alerts save-webhook <that block's name> --overwrite`"
        )
    else:
        fix = (
            f"fix it in the Prefect UI (Blocks > {name} > Edit), or save the webhook again: "
            f"`export SLACK_WEBHOOK_URL=<the URL from Slack>`, then "
            f"`slack-alerts save-webhook {name} --overwrite`"
        )
    return f"The block {name!r} holds invalid values: {problems}. Next: {fix}."


def is_url(ref: str) -> bool:
    return ref.strip().lower().startswith(("http://", "https://"))


def route_for(ref: WebhookRef) -> dict[str, str]:
    """How the outbox finds ``ref`` again on replay, known without any API call.

    Never a secret: a URL given inline is only named by a hash (replaying it
    needs ``--webhook``).
    """
    if ref is None:
        if os.environ.get(WEBHOOK_ENV):
            return {"env": WEBHOOK_ENV}
        return {"preview": str(default_outbox_dir())}
    if isinstance(ref, str):
        if is_url(ref) or looks_like_secret(ref):
            return {"inline": receiver_key("webhook", ref.strip())}
        return {"block": ref}
    name = getattr(ref, "_block_document_name", None)
    if name and not getattr(ref, "_is_anonymous", False):
        return {"block": str(name)}
    if isinstance(ref, SlackAlertsWebhook):
        return {"inline": receiver_key("webhook", ref.webhook_url.get_secret_value())}
    if isinstance(ref, SlackAlertsBot):
        return {"inline": _bot_key(ref)}
    return {"inline": "router"}


def _bot_key(block: SlackAlertsBot) -> str:
    return receiver_key("bot", f"{block.bot_token.get_secret_value()}\x1f{block.channel}")


# Prefect's rule for block document names; "type-slug/name" is a full address.
_BLOCK_NAME = re.compile(r"(?:[a-z0-9-]+/)?[a-z0-9-]+")


def block_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a block name (never echoing a secret-shaped value), or None."""
    if looks_like_secret(name) or "://" in name:
        return (
            "the value given as a block name looks like a URL or a token (not shown). Save it "
            f"as a block instead: `export {WEBHOOK_ENV}=...` then `slack-alerts save-webhook "
            "NAME`, and give NAME here"
        )
    if not _BLOCK_NAME.fullmatch(name):
        shown = name if len(name) <= 80 else name[:80] + "…"
        return (
            f"{shown!r} is not a block name: block names use lowercase letters, digits and "
            "dashes (for example ml-alerts)"
        )
    return None


def load_webhook(name: str, control: ControlPlane) -> AnyBlock:
    """Load a saved webhook or router block by name (no cache, bounded in time).

    Raises ``WebhookNotFound`` when no such block exists, ``WebhookInvalid`` when
    it holds values that fail validation (the message names the fields, never a
    value), or when ``name`` cannot be a block name (``block_name_problem``),
    ``ControlPlaneUnavailable`` when the Prefect API cannot be reached.
    """
    problem = block_name_problem(name)
    if problem is not None:
        raise WebhookInvalid(problem)

    def load(_: Any) -> AnyBlock | str | None:
        try:
            if "/" in name:  # "slack-alerts-router/prod"
                loaded = cast(Block, Block.load(name, _sync=True))  # type: ignore[call-arg]
                wanted = isinstance(loaded, SlackAlertsWebhook | SlackAlertsBot | SlackAlertsRouter)
                return cast(AnyBlock, loaded) if wanted else None
            kinds: tuple[type[Block], ...] = (SlackAlertsWebhook, SlackAlertsBot, SlackAlertsRouter)
            for kind in kinds:
                try:
                    return cast(
                        AnyBlock,
                        kind.load(name, _sync=True),  # type: ignore[call-arg]
                    )
                except (ValueError, ObjectNotFound):
                    continue
        except RuntimeError as exc:  # Prefect: "Unable to load ... due to failed validation"
            invalid = invalid_block_message(name, exc)
            if invalid is not None:
                return invalid
            raise
        return None

    block = control.call(load, what="loading the webhook block")
    if isinstance(block, str):
        raise WebhookInvalid(block)
    if block is None:
        raise WebhookNotFound(
            f"No Slack Alerts Webhook or Router block named {name!r}. Create one in the "
            "Prefect UI (Blocks > + > Slack Alerts Webhook) or in code: "
            f"SlackAlertsWebhook(webhook_url=...).save({name!r}); or check PREFECT_API_URL "
            "points at the server where you saved it"
        )
    return block


_senders: OrderedDict[str, WebhookSender] = OrderedDict()
_senders_lock = threading.Lock()


def _sender(url: str, timeout_seconds: float) -> WebhookSender:
    """One pooled sender per URL and timeout, per process (least recently used kept)."""
    key = hashlib.sha256(f"{url}\x1f{timeout_seconds}".encode()).hexdigest()
    with _senders_lock:
        sender = _senders.get(key)
        if sender is None:
            sender = WebhookSender(
                url, timeout_seconds=timeout_seconds, retry_policy=TASK_RETRY_POLICY
            )
            _senders[key] = sender
        _senders.move_to_end(key)
        while len(_senders) > _SENDERS_KEPT:
            _senders.popitem(last=False)[1].close()
        return sender


_bots: OrderedDict[str, SlackApiNotifier] = OrderedDict()


def bot_notifier(block: SlackAlertsBot) -> SlackApiNotifier:
    """One Web API client per token, channel, URL and timeout, per process."""
    token = block.bot_token.get_secret_value()
    parts = (token, block.channel, block.api_url, str(block.timeout_seconds))
    key = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    with _senders_lock:
        notifier = _bots.get(key)
        if notifier is None:
            notifier = SlackApiNotifier(
                token,
                channel=block.channel,
                base_url=block.api_url,
                timeout_seconds=block.timeout_seconds,
                retry_policy=TASK_RETRY_POLICY,
            )
            _bots[key] = notifier
        _bots.move_to_end(key)
        while len(_bots) > _SENDERS_KEPT:
            _bots.popitem(last=False)
        return notifier


def current_run_url() -> str | None:
    """The Prefect UI link of the flow run this code runs in, when known."""
    from prefect.context import FlowRunContext

    from flows.hooks import run_url

    context = FlowRunContext.get()
    run = context.flow_run if context is not None else None
    return run_url(run) if run is not None else None


def receiver_for(
    block: SlackAlertsWebhook | SlackAlertsBot, *, key: str | None = None, name: str | None = None
) -> Receiver:
    """A pipeline receiver from a webhook or bot block's current settings.

    Its key is the block's name when it was saved under one (so state and
    limits survive a rotated URL or token), else a hash of the URL (token).
    """
    secret = (
        block.webhook_url.get_secret_value()
        if isinstance(block, SlackAlertsWebhook)
        else _bot_key(block)
    )
    document = getattr(block, "_block_document_name", None)
    anonymous = getattr(block, "_is_anonymous", False)
    label = name or (str(document) if document and not anonymous else None)
    if key is not None:
        pass
    elif label:
        key = f"block:{label}"
    elif getattr(block, "_block_document_id", None):
        key = f"block:{block._block_document_id}"
    else:
        key = receiver_key("webhook", secret) if isinstance(block, SlackAlertsWebhook) else secret
    if isinstance(block, SlackAlertsBot):
        bot = bot_notifier(block)
        return Receiver(
            key=key,
            name=label or bot.destination,
            notifier=bot,
            options=FormatOptions(
                mention_on_critical=normalize_mention(block.mention_on_critical),
                redact_pii=block.redact_pii,
                dashboard_url_template=block.dashboard_url_template,
                runbook_url_template=block.runbook_url_template,
                interaction_key=key,
                run_url=current_run_url(),
            ),
            settings=ReceiverSettings(
                rate_limit_per_minute=block.rate_limit_per_minute,
                repeat_interval=timedelta(seconds=block.repeat_interval_seconds),
                send_resolved=block.send_resolved,
                update_message=block.update_message,
                thread_replies=block.thread_replies,
            ),
        )
    notifier: Notifier = _sender(secret, block.timeout_seconds)
    return Receiver(
        key=key,
        name=label or notifier.destination,
        notifier=notifier,
        options=FormatOptions(
            channel=block.channel,
            username=block.username,
            icon_emoji=block.icon_emoji,
            mention_on_critical=normalize_mention(block.mention_on_critical),
            redact_pii=block.redact_pii,
            dashboard_url_template=block.dashboard_url_template,
            runbook_url_template=block.runbook_url_template,
        ),
        settings=ReceiverSettings(
            rate_limit_per_minute=block.rate_limit_per_minute,
            burst=block.burst,
            rate_limit_wait_seconds=block.rate_limit_wait_seconds,
            repeat_interval=timedelta(seconds=block.repeat_interval_seconds),
            send_resolved=block.send_resolved,
        ),
    )


def preview_receiver() -> Receiver:
    sink = PreviewSink()
    return Receiver(
        key=receiver_key("preview", str(sink.directory.resolve())),
        name="local preview",
        notifier=sink,
        settings=PREVIEW_SETTINGS,
    )


def resolve_router(ref: WebhookRef, control: ControlPlane) -> Router:
    """The router for ``ref`` (see the module docstring).

    Raises ``WebhookNotFound`` for a name no block has, ``ValueError`` for a
    malformed URL (without repeating it), ``ControlPlaneUnavailable`` when
    the API cannot be reached.
    """
    if isinstance(ref, str):
        if is_url(ref) or looks_like_secret(ref):
            try:
                block = SlackAlertsWebhook(webhook_url=ref.strip())
            except ValueError:
                raise ValueError(
                    "webhook looks like a URL but is not a valid http(s) webhook URL; copy it "
                    "again from Slack's Incoming Webhooks page"
                ) from None
            return StaticRouter(receiver_for(block))
        ref = load_webhook(ref, control)
    if isinstance(ref, SlackAlertsRouter):
        routes = {
            kind: Route(receiver_for(route), route.min_severity)
            for kind in ("drift", "compliance", "safety")
            if (route := getattr(ref, kind)) is not None
        }
        return KindRouter(receiver_for(ref.default), routes)  # type: ignore[arg-type]
    if isinstance(ref, SlackAlertsWebhook | SlackAlertsBot):
        return StaticRouter(receiver_for(ref))
    url = os.environ.get(WEBHOOK_ENV)
    if url:
        return StaticRouter(
            receiver_for(
                SlackAlertsWebhook(webhook_url=url),
                # Keyed by the URL (hashed), as the core client keys it: pointing the
                # variable at another channel starts a fresh log there (a firing alert is
                # posted again, never held back as "already firing" elsewhere).
                key=receiver_key("webhook", url.strip()),
                name=WEBHOOK_ENV,
            )
        )
    return StaticRouter(preview_receiver())


__all__ = [
    "ControlPlaneUnavailable",
    "WebhookInvalid",
    "WebhookNotFound",
    "WebhookRef",
    "bot_notifier",
    "load_webhook",
    "receiver_for",
    "resolve_router",
    "route_for",
]
