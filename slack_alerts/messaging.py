"""The notify stage: post a group's message, or update it in place and reply in its thread.

A webhook can only post. A notifier that can address its messages again
(Slack's Web API with a bot token) is a ``MessageEditor``; with a receiver's
``update_message`` setting (Alertmanager's name) the group keeps one message:

- the first notification posts it, and its ``(channel, ts)`` goes into the
  group's notification log, shared by every worker and surviving restarts;
- new alerts or repeats update it in place, and (``thread_replies``) add a
  short reply in its thread saying what changed;
- when every alert of the group resolved, the message turns green
  ("Resolved after 2 h 13 min", with the time it fired) and a reply says so;
  a partial resolution is a thread reply.

A message that cannot be updated any more (deleted, or the channel changed)
is posted again. No notifier call here ever raises.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol, cast, runtime_checkable

from slack_alerts.delivery import DeliveryResult, DeliveryStatus, MessageMeta, MessageRef
from slack_alerts.formatting import (
    ResolvedNotice,
    format_resolved,
    format_resolved_message,
    human_duration,
    thread_reply,
)
from slack_alerts.notify.base import Notifier
from slack_alerts.routing import Receiver
from slack_alerts.state import NotificationLog


@runtime_checkable
class MessageEditor(Protocol):
    """A notifier that can update its messages and reply in their threads."""

    destination: str

    def post(self, payload: dict[str, Any], meta: MessageMeta | None = None) -> DeliveryResult: ...

    def update(
        self, ref: MessageRef, payload: dict[str, Any], meta: MessageMeta | None = None
    ) -> DeliveryResult: ...

    def reply(
        self, ref: MessageRef, payload: dict[str, Any], meta: MessageMeta | None = None
    ) -> DeliveryResult: ...

    def close(self) -> None: ...


def editor_of(receiver: Receiver) -> MessageEditor | None:
    """The receiver's notifier as an editor, when it is one and ``update_message`` is on."""
    notifier = receiver.notifier
    if receiver.settings.update_message and _is_editor_type(type(notifier)):
        return cast(MessageEditor, notifier)
    return None


@functools.cache
def _is_editor_type(kind: type) -> bool:
    # isinstance() against a runtime-checkable Protocol with a data member walks the
    # protocol's attributes on every call (~70 us per message); a type's answer never changes.
    return all(callable(getattr(kind, name, None)) for name in ("post", "update", "reply", "close"))


def call_safely(action: Any, *args: Any, destination: str, fingerprint: str = "") -> DeliveryResult:
    """Run a notifier call; a bug in it becomes a transient failure, never an exception."""
    try:
        result: DeliveryResult = action(*args)
        return result
    except Exception as exc:
        return DeliveryResult(
            status=DeliveryStatus.FAILED_TRANSIENT,
            attempts=1,
            error="internal_error",
            detail=f"{type(exc).__name__} while delivering",
            fingerprint=fingerprint or None,
            destination=destination,
        )


def post(notifier: Notifier, payload: dict[str, Any], meta: MessageMeta) -> DeliveryResult:
    return call_safely(
        notifier.post,
        payload,
        meta,
        destination=notifier.destination,
        fingerprint=meta.fingerprint,
    )


def notify(
    receiver: Receiver,
    log: NotificationLog,
    payload: dict[str, Any],
    meta: MessageMeta,
    change: str,
    now: datetime,
    notes: list[str],
) -> DeliveryResult:
    """Send a group's message: update it in place when it exists, else post it.

    ``change`` is the thread reply's sentence ("2 new alerts: psi, auroc").
    """
    editor = editor_of(receiver)
    where = receiver.notifier.destination
    if editor is not None and log.message is not None:
        result = call_safely(editor.update, log.message, payload, meta, destination=where)
        if result.ok:
            if receiver.settings.thread_replies:
                _reply(editor, log.message, change, meta, where, notes, receiver)
            return replace(result, message_ref=log.message)
        if not result.permanent:
            return result
        # The message is gone (deleted, or the channel changed): post a new one.
        log.message = None
    result = post(receiver.notifier, payload, meta)
    if result.ok and editor is not None and result.message_ref is not None:
        log.message, log.message_posted = result.message_ref, now
    return result


def resolve(
    receiver: Receiver,
    log: NotificationLog,
    notices: list[ResolvedNotice],
    still_firing: bool,
    model_label: str,
    meta: MessageMeta,
    now: datetime,
    notes: list[str],
) -> DeliveryResult:
    """Tell the group's destination that ``notices`` resolved."""
    editor = editor_of(receiver)
    where = receiver.notifier.destination
    if editor is not None and log.message is not None:
        message = log.message
        if still_firing:
            result = call_safely(
                editor.reply,
                message,
                format_resolved(notices, receiver.options),
                meta,
                destination=where,
            )
        else:
            fired = log.message_posted or now
            green = format_resolved_message(model_label, notices, fired, now, receiver.options)
            result = call_safely(editor.update, message, green, meta, destination=where)
            if result.ok:
                log.message = log.message_posted = None
                if receiver.settings.thread_replies:
                    took = human_duration((now - fired).total_seconds())
                    _reply(editor, message, f"Resolved after {took}.", meta, where, notes, receiver)
        if result.ok or not result.permanent:
            return result
        log.message = log.message_posted = None
    return post(receiver.notifier, format_resolved(notices, receiver.options), meta)


def _reply(
    editor: MessageEditor,
    ref: MessageRef,
    text: str,
    meta: MessageMeta,
    where: str,
    notes: list[str],
    receiver: Receiver,
) -> None:
    reply_meta = replace(meta, kind="reply")
    result = call_safely(
        editor.reply, ref, thread_reply(text, receiver.options), reply_meta, destination=where
    )
    if not result.ok:
        # The message itself was updated: a missing reply is worth a note, not a failure.
        notes.append(f"thread reply at {receiver.name} not posted ({result.error})")
