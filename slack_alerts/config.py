"""``SlackAlertsConfig``: one place for webhooks, channels and limits, per alert kind.

A security team can get safety events in its own channel by setting
``SLACK_SAFETY_WEBHOOK_URL``; anything not overridden falls back to
``SLACK_WEBHOOK_URL`` (and, when that is unset too, to the local preview).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

from slack_alerts.client import SlackAlertClient
from slack_alerts.formatting import normalize_mention
from slack_alerts.models import Alert, AlertKind
from slack_alerts.notify.webhook import validate_webhook_url

KINDS: tuple[AlertKind, ...] = ("drift", "compliance", "safety")


class ConfigError(ValueError):
    """A setting is missing or malformed. The message names it, never its value."""


class KindRoute(BaseModel):
    """Overrides for one alert kind; None means 'use the default'."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    webhook_url: SecretStr | None = None
    channel: str | None = None
    rate_limit_per_minute: int | None = Field(default=None, ge=1)


class SlackAlertsConfig(BaseModel):
    """Settings for all clients, with optional per-kind routes."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    webhook_url: SecretStr | None = None
    channel: str | None = None
    username: str | None = None
    icon_emoji: str | None = None
    rate_limit_per_minute: int = Field(default=10, ge=1)
    timeout_seconds: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    mention_on_critical: str | None = None
    redact_pii: bool = True
    routes: dict[AlertKind, KindRoute] = Field(default_factory=dict)

    _clients: dict[tuple[Any, ...], SlackAlertClient] = PrivateAttr(default_factory=dict)
    _clients_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SlackAlertsConfig:
        """Read ``SLACK_*`` variables; see the README's configuration table."""
        env = os.environ if environ is None else environ

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def url(name: str) -> SecretStr | None:
            value = text(name)
            if value is None:
                return None
            try:
                return SecretStr(validate_webhook_url(value, name=name))
            except ValueError as exc:
                raise ConfigError(str(exc)) from None

        def number(name: str, kind: type[int] | type[float], minimum: float) -> Any:
            value = text(name)
            if value is None:
                return None
            try:
                parsed = kind(value)
            except ValueError:
                parsed = None
            if parsed is None or parsed < minimum:
                raise ConfigError(f"{name} must be a {kind.__name__} >= {minimum}") from None
            return parsed

        def flag(name: str, default: bool) -> bool:
            value = text(name)
            if value is None:
                return default
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{name} must be true or false")

        mention = text("SLACK_MENTION_ON_CRITICAL")
        try:
            normalize_mention(mention)
        except ValueError:
            raise ConfigError(
                "SLACK_MENTION_ON_CRITICAL must be 'here', 'channel', a user id or a user-group id"
            ) from None

        routes = {}
        for kind in KINDS:
            prefix = f"SLACK_{kind.upper()}_"
            route = KindRoute(
                webhook_url=url(prefix + "WEBHOOK_URL"),
                channel=text(prefix + "CHANNEL"),
                rate_limit_per_minute=number(prefix + "RATE_LIMIT_PER_MINUTE", int, 1),
            )
            if route != KindRoute():
                routes[kind] = route

        settings: dict[str, Any] = {
            "webhook_url": url("SLACK_WEBHOOK_URL"),
            "channel": text("SLACK_CHANNEL"),
            "username": text("SLACK_USERNAME"),
            "icon_emoji": text("SLACK_ICON_EMOJI"),
            "rate_limit_per_minute": number("SLACK_RATE_LIMIT_PER_MINUTE", int, 1),
            "timeout_seconds": number("SLACK_TIMEOUT_SECONDS", float, 0.001),
            "max_retries": number("SLACK_MAX_RETRIES", int, 0),
            "mention_on_critical": mention,
            "redact_pii": flag("SLACK_REDACT_PII", True),
            "routes": routes,
        }
        return cls(**{k: v for k, v in settings.items() if v is not None})

    def _client_settings(self, kind: AlertKind) -> dict[str, Any]:
        route = self.routes.get(kind, KindRoute())
        secret = route.webhook_url or self.webhook_url
        return {
            "webhook_url": secret.get_secret_value() if secret else "",
            "channel": route.channel or self.channel,
            "username": self.username,
            "icon_emoji": self.icon_emoji,
            "rate_limit_per_minute": route.rate_limit_per_minute or self.rate_limit_per_minute,
            "timeout_seconds": self.timeout_seconds,
            "max_retries": self.max_retries,
            "mention_on_critical": self.mention_on_critical,
            "redact_pii": self.redact_pii,
        }

    def client_for_kind(self, kind: AlertKind) -> SlackAlertClient:
        """The client for one kind; kinds with identical settings share one.

        Sharing matters: two kinds posting to the same webhook must share its
        connection pool and per-model limits.
        """
        settings = self._client_settings(kind)
        key = tuple(sorted(settings.items()))
        with self._clients_lock:
            client = self._clients.get(key)
            if client is None:
                client = SlackAlertClient(**settings)
                self._clients[key] = client
            return client

    def get_drift_client(self) -> SlackAlertClient:
        return self.client_for_kind("drift")

    def get_compliance_client(self) -> SlackAlertClient:
        return self.client_for_kind("compliance")

    def get_safety_client(self) -> SlackAlertClient:
        return self.client_for_kind("safety")

    def client_for(self, alert: Alert) -> SlackAlertClient:
        return self.client_for_kind(alert.kind)

    def close(self) -> None:
        with self._clients_lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
