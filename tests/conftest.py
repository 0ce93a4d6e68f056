from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

# CI shares 2 cores with Prefect servers and workers: judge properties, not speed
# (speed is measured by `make bench`).
settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")

# Prefect reads these at import: keep its home, results and database out of
# the developer's ~/.prefect and make every run start clean.
_PREFECT_HOME = tempfile.mkdtemp(prefix="slack-alerts-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_LOCAL_STORAGE_PATH"] = os.path.join(_PREFECT_HOME, "storage")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("PREFECT_PROFILE", None)

# Prefect's own fixture that records emitted events (an explicit re-export).
from prefect.testing.fixtures import (  # noqa: E402
    asserting_events_worker as asserting_events_worker,
)

from slack_alerts.testing import LocalWebhookServer  # noqa: E402


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
    monkeypatch.setenv("SLACK_ALERTS_UNDELIVERED", str(tmp_path_factory.mktemp("undelivered")))


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """One Prefect test harness (a real API server on SQLite) for the session."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    # Prefect's 30 s start-up budget is too short when the harness creates its
    # database on 2 cores that are busy with other test processes.
    with (
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
        prefect_test_harness(server_startup_timeout=180),
    ):
        yield str(PREFECT_API_URL.value())


@pytest.fixture
def prefect_env(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for a subprocess that talks to the session's Prefect API."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env["PREFECT_API_URL"] = prefect_api
    env["SLACK_ALERTS_OUTBOX"] = str(tmp_path_factory.mktemp("subprocess-outbox"))
    env["SLACK_ALERTS_UNDELIVERED"] = str(tmp_path_factory.mktemp("subprocess-undelivered"))
    # Own result storage, hence its own send cache: a subprocess's sends must
    # not make this process's later sends of the same alerts "deduplicated".
    env["PREFECT_LOCAL_STORAGE_PATH"] = str(tmp_path_factory.mktemp("subprocess-results"))
    return env


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database (127.0.0.1:5432) for one test module, dropped afterwards."""
    import uuid

    from sqlalchemy import create_engine, text

    name = f"slack_alerts_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """End-to-end (``slow``) test files first.

    Under ``make test``'s two workers, a long file that starts last runs alone
    while the other worker idles; started first, it overlaps the short ones.
    The order within each group is kept (a stable sort).
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
