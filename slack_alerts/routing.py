"""Receivers and routes: where each alert goes, with which settings.

A ``Receiver`` is one destination (a webhook, the local preview) with its
message options and lifecycle settings. A ``Router`` picks the receiver of
each alert on its own, as Alertmanager routes each alert before grouping:
a CRITICAL-only route takes the CRITICAL alerts of a run and the WARNING ones
go to the default, even when they come from the same model in the same run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from slack_alerts.formatting import FormatOptions
from slack_alerts.models import Alert, AlertKind, SeverityLevel
from slack_alerts.notify.base import Notifier
from slack_alerts.state import DEFAULT_REPEAT_INTERVAL


def receiver_key(kind: str, identity: str) -> str:
    """A stable, non-secret key: ``kind:<readable or hashed identity>``.

    Secret identities (a webhook URL) are hashed; the key names state,
    limits and outbox routes, so it must never carry the secret itself.
    """
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]
    return f"{kind}:{digest}"


@dataclass(frozen=True)
class ReceiverSettings:
    """Per-destination limits and lifecycle settings.

    - ``rate_limit_per_minute`` / ``burst``: messages per model per minute, and
      how many may go at once (default: the rate);
    - ``rate_limit_wait_seconds``: how long a send may wait for a rate slot;
    - ``repeat_interval``: a firing alert is not re-sent within it;
    - ``send_resolved``: post a notice when a firing alert is healthy again;
    - ``update_message`` (Alertmanager's name): with a notifier that can edit its
      messages (a bot token), a group keeps one message, updated in place;
    - ``thread_replies``: with ``update_message``, say what changed in the
      message's thread.
    """

    rate_limit_per_minute: int = 10
    burst: int | None = None
    rate_limit_wait_seconds: float = 0.0
    repeat_interval: timedelta = DEFAULT_REPEAT_INTERVAL
    send_resolved: bool = True
    update_message: bool = False
    thread_replies: bool = True

    @property
    def effective_burst(self) -> int:
        return self.burst or self.rate_limit_per_minute


@dataclass(eq=False)
class Receiver:
    """One destination: a notifier, how to format for it, and its settings.

    ``key`` is stable and never secret: state, limits and outbox routes use it.
    ``name`` is for people (a block name, or the redacted destination).
    """

    key: str
    name: str
    notifier: Notifier
    options: FormatOptions = field(default_factory=FormatOptions)
    settings: ReceiverSettings = field(default_factory=ReceiverSettings)

    def __repr__(self) -> str:
        return f"Receiver(name={self.name!r}, destination={self.notifier.destination!r})"


class Router(Protocol):
    """Picks each alert's receiver; ``receivers`` lists every receiver it can pick."""

    def route(self, alert: Alert) -> Receiver: ...

    def receivers(self) -> Sequence[Receiver]: ...


@dataclass(eq=False)
class StaticRouter:
    """Every alert to one receiver."""

    receiver: Receiver

    def route(self, alert: Alert) -> Receiver:
        return self.receiver

    def receivers(self) -> Sequence[Receiver]:
        return [self.receiver]


@dataclass(frozen=True)
class Route:
    """A route for one alert kind: its receiver, for alerts of at least ``min_severity``."""

    receiver: Receiver
    min_severity: SeverityLevel = SeverityLevel.INFO

    def __post_init__(self) -> None:
        # Accept "critical" as well as SeverityLevel.CRITICAL.
        object.__setattr__(self, "min_severity", SeverityLevel(self.min_severity))


@dataclass(eq=False)
class KindRouter:
    """Routes by alert kind and minimum severity; everything else goes to ``default``."""

    default: Receiver
    routes: Mapping[AlertKind, Route] = field(default_factory=dict)

    def route(self, alert: Alert) -> Receiver:
        route = self.routes.get(alert.kind)
        if route is not None and alert.severity.rank >= route.min_severity.rank:
            return route.receiver
        return self.default

    def receivers(self) -> Sequence[Receiver]:
        found: dict[str, Receiver] = {self.default.key: self.default}
        for route in self.routes.values():
            found.setdefault(route.receiver.key, route.receiver)
        return list(found.values())
