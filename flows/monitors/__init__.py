"""The monitoring flows: thin Prefect shells around ``slack_alerts.checks``.

Each is a ``monitoring_flow``: it reports its own failures and crashes to its
``webhook`` (``flows.hooks.monitor_failure_hook``), and never stores a webhook
URL given as a parameter on the Prefect server (``SecretSafeFlow``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect import Flow

from flows.hooks import monitor_failure_hook
from flows.routing import is_url
from slack_alerts.text import looks_like_secret

P = ParamSpec("P")
R = TypeVar("R")
MASKED = "<secret not stored>"


class SecretSafeFlow(Flow[P, R]):
    """A flow whose stored parameters never hold a secret.

    Prefect stores a flow run's parameters on the server, in the clear. A
    webhook URL passed where a block name was expected is a secret: it is
    replaced by a placeholder in what Prefect stores, while the run itself
    receives the real value.
    """

    def serialize_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        serialized = super().serialize_parameters(parameters)
        for key, value in serialized.items():
            if key == "webhook" and isinstance(value, str) and is_url(value):
                serialized[key] = MASKED
            else:
                serialized[key] = _mask(value)
        return serialized

    def validate_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        # A run created elsewhere (a deployment run from the UI or `prefect
        # deployment run --params`) was stored before this process saw it:
        # masking is too late, so say so loudly (never the value).
        if os.environ.get("PREFECT__FLOW_RUN_ID"):
            serialized = self.serialize_parameters(parameters)
            stored = sorted(k for k, v in serialized.items() if _holds_mask(v))
            if stored:
                logging.getLogger("slack_alerts").warning(
                    "flow run parameter(s) %s hold a URL or secret (not shown) that Prefect has "
                    "stored on the server with this run. Rotate it, save it as a block "
                    "(`slack-alerts save-webhook NAME`) and pass the block's name instead.",
                    ", ".join(stored),
                )
        return super().validate_parameters(parameters)


def _holds_mask(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_mask(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_mask(v) for v in value)
    return bool(value == MASKED)


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return MASKED if looks_like_secret(value) else value
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def monitoring_flow(name: str, **options: Any) -> Callable[[Callable[P, R]], Flow[P, R]]:
    """``@flow`` for a monitor: failure hooks and secret-safe parameters."""

    def decorate(fn: Callable[P, R]) -> Flow[P, R]:
        return SecretSafeFlow(
            fn=fn,
            name=name,
            on_failure=[monitor_failure_hook],
            on_crashed=[monitor_failure_hook],
            **options,
        )

    return decorate
