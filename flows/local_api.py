"""Prefect's local (embedded) API for runs without ``PREFECT_API_URL``, started with progress.

With no API URL, Prefect starts a temporary server the first time a flow
needs it, and gives it ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``
(20) to answer. On a first run that server must also create Prefect's local
database (over a hundred migrations), which on two busy cores takes longer
than that: the run then dies with "Timed out while attempting to connect to
ephemeral Prefect API server". ``start_local_api`` does the slow parts first
and visibly: it applies the migrations in this process with a progress line,
then starts Prefect's own temporary server with a generous timeout and a
heartbeat. Prefect keeps one such server per process, so every later flow
call reuses the one started here.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from flows.server import DEFAULT_SERVER_API, quiet_temporary_servers

# The start-up budget: Prefect's setting when larger. A first run on a busy
# 2-core machine takes about a minute; this leaves room for slower ones.
STARTUP_TIMEOUT_SECONDS = 300
HEARTBEAT_SECONDS = 5.0


class LocalApiError(RuntimeError):
    """Prefect's local API could not be prepared; the message says what to do."""


class Heartbeat:
    """Prints ``describe()`` every few seconds until the block ends."""

    def __init__(self, describe: Callable[[float], str], every: float = HEARTBEAT_SECONDS) -> None:
        self.describe = describe
        self.every = every
        self.started = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slack-alerts-progress", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            print(f"      {self.describe(time.perf_counter() - self.started)}", flush=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()


class _MigrationCounter(logging.Handler):
    """Counts alembic's "Running upgrade" records."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.applied = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Running upgrade"):
            self.applied += 1


@contextmanager
def _counting_migrations() -> Iterator[_MigrationCounter]:
    counter = _MigrationCounter()
    alembic_log = logging.getLogger("alembic.runtime.migration")
    level, propagate = alembic_log.level, alembic_log.propagate
    alembic_log.addHandler(counter)
    alembic_log.setLevel(logging.INFO)
    alembic_log.propagate = False  # counted here, not printed one line per migration
    try:
        yield counter
    finally:
        alembic_log.removeHandler(counter)
        alembic_log.setLevel(level)
        alembic_log.propagate = propagate


def _sqlite_file(connection_url: str) -> Path | None:
    prefix = "sqlite+aiosqlite:///"
    if not connection_url.startswith(prefix) or ":memory:" in connection_url:
        return None
    return Path(connection_url[len(prefix) :].split("?", 1)[0])


def prepare_database() -> None:
    """Create or upgrade Prefect's local database, with a progress line every few seconds."""
    from prefect.server.database import provide_database_interface

    db = provide_database_interface()
    url = str(db.database_config.connection_url)
    database_file = _sqlite_file(url)
    total = len([p for p in db.orm.versions_dir.glob("*.py") if p.name[:1].isdigit()])
    if database_file is not None and not database_file.exists():
        print(
            f"      first run: creating Prefect's local database at {database_file} "
            f"({total} migrations, about a minute on a busy machine)",
            flush=True,
        )

    async def migrate() -> None:
        try:
            await db.create_db()
        finally:
            await (await db.engine()).dispose()

    with (
        _counting_migrations() as counter,
        Heartbeat(lambda s: f"database: {counter.applied}/{total} migrations ({s:.0f}s)"),
    ):
        try:
            asyncio.run(migrate())
        except Exception as exc:
            where = database_file or "PREFECT_API_DATABASE_CONNECTION_URL"
            raise LocalApiError(
                f"Could not prepare Prefect's local database at {where} "
                f"({type(exc).__name__}: {exc}). Next: stop other Prefect processes that use it "
                "and run this again, or run against a server: `prefect server start` in another "
                f"terminal, then `prefect config set PREFECT_API_URL={DEFAULT_SERVER_API}`."
            ) from exc
    if counter.applied:
        print(f"      database: {counter.applied}/{total} migrations applied", flush=True)


def start_local_api() -> str:
    """Start Prefect's temporary server for this process (once) and return its API URL."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import (
        PREFECT_SERVER_EPHEMERAL_ENABLED,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    )

    if not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        raise LocalApiError(
            "PREFECT_API_URL is not set and this Prefect profile does not allow a temporary "
            "server. Next: `prefect server start` in another terminal, then "
            f"`prefect config set PREFECT_API_URL={DEFAULT_SERVER_API}`, and run this again."
        )
    quiet_temporary_servers()
    prepare_database()
    timeout = max(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value(), STARTUP_TIMEOUT_SECONDS)
    # Prefect keeps one temporary server per process under the port None;
    # the flows' own get_client() calls find this one running and reuse it.
    server = SubprocessASGIServer()
    failure: list[BaseException] = []

    def start() -> None:
        try:
            server.start(timeout=timeout)
        except BaseException as exc:  # handed to the main thread
            failure.append(exc)

    starting = threading.Thread(target=start, name="prefect-local-api", daemon=True)
    with Heartbeat(lambda s: f"waiting for Prefect's local API to answer ({s:.0f}s)"):
        starting.start()
        starting.join()
    if failure or not server.running:
        reason = f" ({type(failure[0]).__name__}: {str(failure[0])[:300]})" if failure else ""
        raise LocalApiError(
            f"Prefect's local API did not start within {timeout} s{reason}. Next: run a server "
            "in another terminal (`prefect server start`), then "
            f"`prefect config set PREFECT_API_URL={DEFAULT_SERVER_API}` and run this again; "
            "or raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS."
        )
    return server.api_url
