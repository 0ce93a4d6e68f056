"""Notifiers: where a formatted message goes.

Every notifier has the same small interface, ``Notifier``: ``post(payload,
meta) -> DeliveryResult``, never raising, with ``destination`` safe to log.
One contract test suite (``tests/contract/test_notifier_contract.py``) runs over
every notifier that posts to Slack; the preview sink is tested on its own.

- ``webhook.WebhookSender``: a Slack incoming webhook;
- ``preview.PreviewSink``: the local preview outbox, for running without Slack.
- ``slack_api.SlackApiNotifier``: Slack's Web API with a bot token; it can update
  its messages and reply in their threads (a ``MessageEditor``).
"""

from slack_alerts.notify.base import Notifier
from slack_alerts.notify.preview import PreviewSink, default_outbox_dir, read_outbox
from slack_alerts.notify.webhook import WebhookSender, validate_webhook_url

__all__ = [
    "Notifier",
    "PreviewSink",
    "WebhookSender",
    "default_outbox_dir",
    "read_outbox",
    "validate_webhook_url",
]
