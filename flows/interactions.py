"""``slack-alerts serve-interactions``: the buttons' endpoint (ASGI) or a Socket Mode client.

A small Starlette app under uvicorn receives Slack's interaction payloads at
``POST /slack/interactions`` and hands them to the core's
``slack_alerts.interactions.InteractionHandler`` (signature, 5-minute window,
replay cache, our action ids, the allow-list, then the state and the message).
``GET /healthz`` shows the counts (accepted, ignored, refused), never a secret.

Where Slack cannot reach an inbound URL (hospital networks), ``--socket-mode``
opens an outbound WebSocket with the bot block's app-level token instead;
the same handler acts on what arrives.

State and silences are the flows' own (``flows.delivery.state_store`` and
``silence_store``): the Prefect server, or ``$SLACK_ALERTS_STATE_URL``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from blocks import SlackAlertsBot
from slack_alerts.interactions import InteractionHandler, InteractionResponse, socket_mode_client
from slack_alerts.logs import logger
from slack_alerts.silences import SilenceStore
from slack_alerts.state import StateStore

INTERACTIONS_PATH = "/slack/interactions"
MAX_BODY_BYTES = 64 * 1024  # Slack's interaction payloads are a few kB


def interactions_app(handler: InteractionHandler) -> Starlette:
    """The ASGI app: ``POST /slack/interactions`` and ``GET /healthz``."""

    async def interactions(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return Response("too large", status_code=413)
        checked = handler.verify(body, request.headers)
        if isinstance(checked, InteractionResponse):
            return Response(checked.body, status_code=checked.status, media_type="text/plain")
        # Slack wants its 200 within 3 s: answer, then act (the store and
        # chat.update are blocking calls, run off the event loop).
        return Response(
            status_code=200,
            background=BackgroundTask(anyio.to_thread.run_sync, handler.handle_payload, checked),
        )

    async def healthz(_: Request) -> Response:
        return JSONResponse({"ok": True, "counts": dict(handler.counts)})

    return Starlette(
        routes=[
            Route(INTERACTIONS_PATH, interactions, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def handler_for(
    block: SlackAlertsBot,
    *,
    store: StateStore | None = None,
    silences: SilenceStore | None = None,
) -> InteractionHandler:
    """The handler for a bot block: its signing secret, allow-list and Web API client."""
    from flows.delivery import silence_store, state_store
    from flows.routing import bot_notifier

    bot = bot_notifier(block)

    def members_of(group: str) -> list[str]:
        answer = bot.client.usergroups_users_list(usergroup=group)
        return [str(user) for user in answer.get("users") or []]

    secret = block.signing_secret.get_secret_value() if block.signing_secret else None
    return InteractionHandler(
        store=store or state_store(),
        silences=silences or silence_store(),
        editor=bot,
        signing_secret=secret,
        allowed=block.allowed_users,
        members_of=members_of,
    )


def socket_mode_for(block: SlackAlertsBot, handler: InteractionHandler) -> Any:
    """A connected-on-demand Socket Mode client for the block's app-level token."""
    from flows.routing import bot_notifier

    if block.app_token is None:
        raise ValueError(
            "Socket Mode needs the block's app_token (xapp-… with connections:write, from the "
            "Slack app's Basic Information > App-Level Tokens)"
        )
    token = block.app_token.get_secret_value()
    return socket_mode_client(handler, token, bot_notifier(block).client)


def serve(block_name: str, host: str, port: int, socket_mode: bool) -> int:
    """Run the endpoint (or the Socket Mode client) until interrupted."""
    from flows.delivery import CONTROL
    from flows.routing import load_webhook

    block = load_webhook(block_name, CONTROL)
    if not isinstance(block, SlackAlertsBot):
        raise ValueError(f"{block_name!r} is not a Slack Alerts Bot block")
    handler = handler_for(block)
    if socket_mode:
        client = socket_mode_for(block, handler)
        client.connect()
        print("Socket Mode connected; waiting for button presses (Ctrl+C to stop)", flush=True)
        stop = threading.Event()
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            client.close()
        return 0
    if block.signing_secret is None:
        raise ValueError(
            f"the block {block_name!r} has no signing_secret; add it (Slack app > Basic "
            "Information > Signing Secret), or use --socket-mode"
        )
    import uvicorn

    sock = _bound(host, port)
    url = f"http://{host}:{sock.getsockname()[1]}"
    logger.info("serving Slack interactions on %s%s", url, INTERACTIONS_PATH)
    # Said once the port is ours, so the line is true (uvicorn's own is silenced).
    print(
        f"Listening for Slack button presses on {url}{INTERACTIONS_PATH} "
        f"(POST; GET {url}/healthz shows the counts); Ctrl+C to stop",
        flush=True,
    )
    config = uvicorn.Config(interactions_app(handler), log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _bound(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or ValueError naming ``--host``/``--port``."""
    if not 0 <= port <= 65535:
        raise ValueError(f"--port {port} is not a port; give one in 0-65535 (0: any free port)")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as error:
        raise ValueError(
            f"cannot listen on --host {host} --port {port} ({error.strerror or error}); "
            "choose another port, or stop what uses it"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@contextmanager
def running(app: Starlette, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` under uvicorn in a background thread; yields its base URL.

    For tests and benchmarks (``serve`` runs uvicorn in the foreground).
    """
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
