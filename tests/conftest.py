from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from slack_alerts.testing import LocalWebhookServer


@pytest.fixture
def webhook_server() -> Iterator[LocalWebhookServer]:
    with LocalWebhookServer() as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    """Records the waits a sender asked for, instead of sleeping through them."""
    return []


@pytest.fixture(autouse=True)
def _isolate_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    # No test may reach a real webhook configured on the developer's machine,
    # or write previews into the working tree.
    for name in list(os.environ):
        if name.startswith("SLACK_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACK_ALERTS_OUTBOX", str(tmp_path_factory.mktemp("outbox")))


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog
