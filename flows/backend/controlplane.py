"""Calls to the Prefect API with a hard time bound, and no echo of what was sent.

Prefect's client retries a failing request up to five times with growing
waits, so one call to a dead or black-holed API can take over a minute. The
pipeline's control-plane calls (limits, locks, state) must be bounded
instead: here each call runs with two client retries and a short HTTP timeout,
and the caller stops waiting after ``timeout_seconds`` whatever happens
(the abandoned call finishes, or fails, on a background thread).

After a call that found the API unreachable or silent, calls fail at once
for ``BREAKER_SECONDS`` (a circuit breaker), so a dead API costs one timeout
per process, not one per alert; the pipeline fails open meanwhile.

Errors come back as ``ControlPlaneUnavailable`` with our own message: the
exception type and what was being done, never the third-party message,
which may echo an argument.

``SLACK_ALERTS_CONTROL_TIMEOUT_SECONDS`` sets the bound (default 10 s).
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

import httpx
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.context import SettingsContext, get_settings_context
from prefect.settings import (
    PREFECT_API_REQUEST_TIMEOUT,
    PREFECT_API_URL,
    PREFECT_CLIENT_MAX_RETRIES,
)

T = TypeVar("T")

DEFAULT_TIMEOUT_SECONDS = 10.0
TIMEOUT_ENV = "SLACK_ALERTS_CONTROL_TIMEOUT_SECONDS"
BREAKER_SECONDS = 30.0
_EXECUTOR = ThreadPoolExecutor(max_workers=32, thread_name_prefix="slack-alerts-control")


class ControlPlaneUnavailable(RuntimeError):
    """The Prefect API did not answer in time, or answered with an error."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ControlPlane:
    """Bounded calls to the Prefect API: ``call(fn, what=...)`` runs ``fn(client)``."""

    def __init__(self, timeout_seconds: float | None = None, api_url: str | None = None) -> None:
        if timeout_seconds is None:
            timeout_seconds = float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_SECONDS)
        self.timeout_seconds = timeout_seconds
        self.api_url = api_url  # None: the current settings' PREFECT_API_URL
        self._settings: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._open_until = 0.0  # the breaker: fail at once until then
        self._local = threading.local()

    def _bounded_settings(self) -> SettingsContext:
        # Building settings costs ~20 ms; build them once per base settings.
        context = get_settings_context()
        key = id(context.settings)
        with self._lock:
            settings = self._settings.get(key)
            if settings is None:
                updates: dict[Any, Any] = {
                    # Two retries (about 2 s + 4 s of Prefect's backoff) fit in the
                    # bound and ride out a busy server's 503s, which would
                    # otherwise fail open into duplicate messages.
                    PREFECT_CLIENT_MAX_RETRIES: 2,
                    PREFECT_API_REQUEST_TIMEOUT: self.timeout_seconds,
                }
                if self.api_url is not None:
                    updates[PREFECT_API_URL] = self.api_url
                settings = context.settings.copy_with_update(updates=updates)
                self._settings[key] = settings
        return SettingsContext(profile=context.profile, settings=settings)

    def _client(self) -> SyncPrefectClient:
        # One client per worker thread and settings, kept open: a new client
        # costs an extra request (a CSRF token) before its first write.
        context = self._bounded_settings()
        key = id(context.settings)
        clients: dict[int, SyncPrefectClient] = getattr(self._local, "clients", {})
        self._local.clients = clients
        client = clients.get(key)
        if client is None:
            with context:
                client = get_client(sync_client=True)
                client.__enter__()
            clients[key] = client
        return client

    def _run(self, fn: Callable[[SyncPrefectClient], T]) -> T:
        with self._bounded_settings():
            return fn(self._client())

    def call(
        self,
        fn: Callable[[SyncPrefectClient], T],
        *,
        what: str,
        timeout_seconds: float | None = None,
    ) -> T:
        """Run ``fn`` with a Prefect client; raise ``ControlPlaneUnavailable`` past the bound."""
        bound = self.timeout_seconds if timeout_seconds is None else timeout_seconds
        if time.monotonic() < self._open_until:
            raise ControlPlaneUnavailable(
                f"{what}: the Prefect API did not answer recently; not waiting for it again yet"
            )
        context = contextvars.copy_context()
        future = _EXECUTOR.submit(context.run, self._run, fn)
        try:
            return future.result(timeout=bound)
        except FutureTimeout:
            self._trip()
            raise ControlPlaneUnavailable(
                f"{what}: no answer from the Prefect API within {bound:g}s"
            ) from None
        except ControlPlaneUnavailable:
            raise
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            raise ControlPlaneUnavailable(
                f"{what}: the Prefect API answered {status}", status_code=status
            ) from None
        except (httpx.TransportError, OSError) as exc:
            self._trip()
            raise ControlPlaneUnavailable(f"{what}: {type(exc).__name__}") from None
        except Exception as exc:
            raise ControlPlaneUnavailable(f"{what}: {type(exc).__name__}") from None

    def _trip(self) -> None:
        self._open_until = time.monotonic() + BREAKER_SECONDS
