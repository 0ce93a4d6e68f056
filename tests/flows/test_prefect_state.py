"""The Prefect-backed state: bounded in size, O(1) API requests per model, skew warnings."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
from prefect.client.orchestration import SyncPrefectClient

from flows.backend.controlplane import ControlPlane
from flows.backend.gate import PrefectGate
from flows.backend.state import PrefectStateStore, encode, log_prefix
from slack_alerts import AlertStatus, DurableOutbox, Receiver, ReceiverSettings, WebhookSender
from slack_alerts.pipeline import AlertPipeline
from slack_alerts.routing import receiver_key
from slack_alerts.state import FingerprintState, NotificationLog
from slack_alerts.testing import LocalWebhookServer
from tests.factories import drift, unique

pytestmark = pytest.mark.usefixtures("prefect_api")
T = TypeVar("T")


class CountingControlPlane(ControlPlane):
    """Counts the HTTP requests made to the Prefect API."""

    def __init__(self) -> None:
        super().__init__(timeout_seconds=20)
        self.requests: list[str] = []
        self._hooked: set[int] = set()

    def _run(self, fn: Callable[[SyncPrefectClient], T]) -> T:
        def counted(client: SyncPrefectClient) -> T:
            if id(client) not in self._hooked:  # clients are reused: hook each once
                self._hooked.add(id(client))
                client._client.event_hooks["request"].append(self._count)
            return fn(client)

        return super()._run(counted)

    def _count(self, request: httpx.Request) -> None:
        self.requests.append(f"{request.method} {request.url.path}")


def setup(server: LocalWebhookServer, tmp_path: Any) -> tuple[CountingControlPlane, AlertPipeline]:
    control = CountingControlPlane()
    target = Receiver(
        key=unique("receiver"),
        name="test",
        notifier=WebhookSender(server.url),
        settings=ReceiverSettings(rate_limit_per_minute=600),
    )
    pipeline = AlertPipeline(
        target,
        PrefectStateStore(control),
        gate=PrefectGate(control),
        outbox=DurableOutbox(tmp_path / "undelivered"),
    )
    return control, pipeline


def test_requests_per_model_are_a_small_constant(
    webhook_server: LocalWebhookServer, tmp_path: Any
) -> None:
    control, pipeline = setup(webhook_server, tmp_path)
    model = unique()
    features = [drift(model, metric=f"feature:f{i}") for i in range(20)]
    healthy = {model: [drift(model, metric=f"feature:ok{i}").fingerprint for i in range(2000)]}
    pipeline.submit(features[:10], healthy)  # first run: creates the model's limits
    control.requests.clear()
    pipeline.submit(features, healthy)  # 10 new, 10 already firing, 2,000 healthy
    # lock, read the log, one rate slot, save it, unlock: whatever the fingerprint count.
    assert len(per_model(control.requests)) <= 5, control.requests
    control.requests.clear()
    pipeline.submit(features, healthy)  # all deduplicated: no rate slot
    assert len(per_model(control.requests)) <= 4, control.requests


def per_model(requests: list[str]) -> list[str]:
    # A Prefect client fetches a CSRF token once, when it is created (one per
    # control-plane thread, and a pool may start a new thread): not per model.
    return [r for r in requests if r != "GET /api/csrf-token"]


def test_a_large_run_is_bounded_in_size_and_time(
    webhook_server: LocalWebhookServer, tmp_path: Any
) -> None:
    control, pipeline = setup(webhook_server, tmp_path)
    model = unique()
    storm = [drift(model, metric=f"feature:{i}", severity="critical") for i in range(3000)]
    started = time.monotonic()
    outcome = pipeline.submit(storm)
    held = time.monotonic() - started
    assert outcome.count(AlertStatus.SENT) == 3000 and len(webhook_server.payloads()) == 1
    assert held < 30, held  # one message, one log: not minutes under the lock
    writes = [r for r in control.requests if r.startswith(("POST /api/variables/", "PATCH"))]
    assert len(writes) <= 3000 // 100, writes  # compressed: well over 100 fingerprints a write
    store = PrefectStateStore(ControlPlane())
    log = store.read(pipeline.router.receivers()[0].key, model)
    assert len(log.states) == 3000 and all(s.count == 1 for s in log.states.values())
    assert all(len(str(v)) <= 5000 for v in encode(log))  # Prefect's value limit
    again = pipeline.submit(storm)
    assert again.count(AlertStatus.DEDUPLICATED) == 3000


def test_stored_state_is_bounded_and_phi_free() -> None:
    now = datetime.now(UTC)
    log = NotificationLog("r", "m")
    title = "feature:" + "x" * 400 + " jane.doe@example.org"
    log.states["a" * 16] = FingerprintState("a" * 16, "m", title, now, now, now, 1, True)
    values = encode(log)
    assert len(values) == 1 and len(str(values[0])) < 5000
    assert log_prefix("r", "m" * 256).startswith("slack_alerts_log_")
    assert len(log_prefix("r", "m" * 256)) < 60  # the model id is only hashed into the name


def test_a_skewed_clock_is_warned_about(webhook_server: LocalWebhookServer, tmp_path: Any) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import VariableUpdate

    _, pipeline = setup(webhook_server, tmp_path)
    model = unique()
    key = pipeline.router.receivers()[0].key
    pipeline.submit([drift(model)])
    name = log_prefix(key, model) + "0"
    with get_client(sync_client=True) as client:
        variable = client.read_variable_by_name(name)
        assert variable is not None and isinstance(variable.value, dict)
        value = dict(variable.value)
        value["u"] = (datetime.now(UTC) + timedelta(days=1)).timestamp()
        client.update_variable(VariableUpdate(name=name, value=value))
    outcome = pipeline.submit([drift(model, metric="other")])
    assert any("clock skew" in note for note in outcome.notes)


def test_receiver_keys_never_hold_the_secret() -> None:
    url = "https://hooks.slack.com/services/T0/B0/SECRETSECRET"
    assert "SECRET" not in receiver_key("webhook", url)
