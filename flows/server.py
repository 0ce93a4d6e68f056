"""Commands that write to a Prefect server check first that there is a real one.

Without ``PREFECT_API_URL`` every Prefect client call starts a temporary
server on Prefect's local database that disappears when the command ends.
Reading from it is harmless (the demo does), but a block type, block,
deployment, silence or limit written there never reaches the server the
user started, and its UI stays empty while the command reports success.
``require_server(command)`` refuses that case, and an unreachable server,
with the exact commands to run; every command that writes server-side
objects calls it first. ``quiet_temporary_servers()`` keeps the temporary
servers that read-only commands still start from printing telemetry errors.
"""

from __future__ import annotations

import os

DEFAULT_SERVER_API = "http://127.0.0.1:4200/api"
ANALYTICS_SETTING = "PREFECT_SERVER_ANALYTICS_ENABLED"


class ServerRequired(RuntimeError):
    """No real Prefect server to write to; the message says what to run."""


def quiet_temporary_servers() -> None:
    """No telemetry from temporary servers this process starts.

    Offline, a temporary server's telemetry heartbeat fails and logs a long
    traceback (a DNS error, or "database is locked" while the server is busy
    creating its SQLite database) that buries a command's one result line.
    Prefect passes this process's environment to the servers it starts; an
    explicit user setting wins.
    """
    os.environ.setdefault(ANALYTICS_SETTING, "false")


def configured_api_url() -> str | None:
    """``PREFECT_API_URL`` as Prefect sees it: environment, profile or ``prefect.toml``."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def check_reachable(api_url: str, command: str | None = None) -> None:
    """Raise ``ServerRequired`` when nothing answers at ``api_url``."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        problem = client.api_healthcheck()
    if problem is not None:
        again = f", then run `{command}` again" if command else ""
        raise ServerRequired(
            f"Cannot reach the Prefect API at {api_url} ({type(problem).__name__}). "
            f"Start the server (`prefect server start`, in another terminal){again}; "
            "or fix PREFECT_API_URL (`prefect config set PREFECT_API_URL=...`)."
        )


def require_server(command: str) -> str:
    """The API URL ``command`` will write to; refuses a temporary server.

    ``command`` is what the user typed (``"slack-alerts register"``), so the
    message can say what to run again.
    """
    api_url = configured_api_url()
    if not api_url:
        raise ServerRequired(
            f"`{command}` writes to a Prefect server, but PREFECT_API_URL is not set, so it "
            "would write to a temporary server that is gone when the command ends (your "
            "server and its UI would stay empty). Next: start your server "
            "(`prefect server start`, in another terminal), point this shell at it with "
            f"`prefect config set PREFECT_API_URL={DEFAULT_SERVER_API}` (or your server's "
            f"URL), then run `{command}` again."
        )
    check_reachable(api_url, command)
    return api_url
