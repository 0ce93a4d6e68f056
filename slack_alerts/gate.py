"""The gate: may this destination post another message for this model now?

A strategy object, passed to the pipeline as slack_sdk passes its retry
handlers. ``InProcessGate`` counts in this process (the direct client);
the Prefect flows use a gate whose limits live on the Prefect server, so
they hold across workers (``flows.backend.gate``).

A gate **fails open**: when its limits cannot be reached, it admits the
message and says so in ``Admission.note``. A duplicate notification is
better than a missing one (Alertmanager's rule).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from slack_alerts.rate_limit import RateLimiter
from slack_alerts.routing import Receiver


@dataclass(frozen=True)
class Admission:
    """The gate's answer. ``retry_after_seconds`` is set when not admitted."""

    admitted: bool
    retry_after_seconds: float | None = None
    note: str = ""


class Gate(Protocol):
    def admit(self, receiver: Receiver, model_id: str) -> Admission:
        """Take one rate slot for ``model_id`` at ``receiver``, waiting at most
        ``receiver.settings.rate_limit_wait_seconds``."""
        ...


class InProcessGate:
    """Sliding-window rate limits per destination and model, in this process.

    Each receiver gets its own ``RateLimiter`` from its settings; pass
    ``limiter`` to share one you built (``SlackAlertClient(rate_limiter=…)``).
    Waiting is not supported here: a full window answers at once.
    """

    def __init__(self, limiter: RateLimiter | None = None) -> None:
        self._given = limiter
        self._limiters: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()

    def limiter(self, receiver: Receiver) -> RateLimiter:
        with self._lock:
            limiter = self._limiters.get(receiver.key)
            if limiter is None:
                limiter = (
                    self._given
                    if self._given is not None
                    else RateLimiter(receiver.settings.rate_limit_per_minute, 60.0)
                )
                self._limiters[receiver.key] = limiter
            return limiter

    def admit(self, receiver: Receiver, model_id: str) -> Admission:
        limiter = self.limiter(receiver)
        if limiter.is_allowed(model_id):
            return Admission(True)
        return Admission(False, retry_after_seconds=limiter.get_retry_after(model_id))
