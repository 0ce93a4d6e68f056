"""The interface every notifier implements."""

from __future__ import annotations

from typing import Any, Protocol

from slack_alerts.delivery import DeliveryResult, MessageMeta


class Notifier(Protocol):
    """Posts one formatted message.

    ``post`` never raises: every failure is a ``DeliveryResult`` whose status
    says whether trying again can help. ``destination`` is safe to log (a
    webhook URL shows as ``https://hooks.slack.com/services/T…/B…/***``).
    """

    destination: str

    def post(self, payload: dict[str, Any], meta: MessageMeta | None = None) -> DeliveryResult: ...

    def close(self) -> None: ...
