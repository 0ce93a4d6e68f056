"""``PrefectGate``: the per-destination, per-model rate limit on the Prefect server."""

from __future__ import annotations

from flows.backend.controlplane import ControlPlane, ControlPlaneUnavailable
from flows.backend.limits import acquire, limit_names
from slack_alerts.gate import Admission
from slack_alerts.routing import Receiver
from slack_alerts.state import LockTimeout


class PrefectGate:
    """One rate slot per message from a global concurrency limit with slot decay.

    Waits up to the receiver's ``rate_limit_wait_seconds`` for a slot. Fails
    open: when the server cannot be reached in time, the message is admitted
    and the admission says why (a possible extra message, never a lost one).
    """

    def __init__(self, control: ControlPlane) -> None:
        self.control = control

    def admit(self, receiver: Receiver, model_id: str) -> Admission:
        settings = receiver.settings
        rate, burst = settings.rate_limit_per_minute, settings.effective_burst
        names = limit_names(receiver.key, model_id, rate, burst)
        try:
            acquire(
                self.control,
                names.rate,
                mode="rate_limit",
                limit=burst,
                decay=rate / 60.0,
                wait_seconds=settings.rate_limit_wait_seconds,
            )
        except LockTimeout:
            return Admission(False, retry_after_seconds=60.0 / rate)
        except ControlPlaneUnavailable as exc:
            return Admission(True, note=f"rate limit unreachable ({exc})")
        return Admission(True)
