"""A fake Slack Web API and a Socket Mode stand-in, both real servers on 127.0.0.1.

In the spirit of ``slack_alerts.testing.LocalWebhookServer``, for tests,
benchmarks and demos of the bot-token path:

- ``LocalSlackApi`` answers ``chat.postMessage`` (threads with ``thread_ts``),
  ``chat.update``, ``usergroups.users.list`` and ``apps.connections.open``
  as Slack does (HTTP 200 with ``{"ok": false, "error": …}``, 429 with
  ``Retry-After``), checks the bearer token, and records every message by
  ``(channel, ts)`` with its edit history and its thread replies. Errors are
  scripted (``channel_not_found``, ``not_in_channel``, ``invalid_auth``,
  ``account_inactive``, ``msg_too_long``, ``ratelimited``…) or come from the
  request itself (an unknown channel, a text over 40,000 characters).
- ``LocalSocketModeServer`` is a WebSocket server: it says ``hello``, sends
  interaction envelopes and records the client's acknowledgements, as
  Slack's Socket Mode does.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from slack_alerts.testing import _TokenBucket

MAX_TEXT = 40_000  # Slack truncates at 40,000 characters and refuses beyond (msg_too_long)
FAKE_BOT_TOKEN = "xoxb-000000000000-0000000000000-localfakebottoken"  # noqa: S105
FAKE_APP_TOKEN = "xapp-1-A000000-000000000000-localfakeapptoken"  # noqa: S105


@dataclass(frozen=True)
class SlackAnswer:
    """A scripted answer: an error code, its HTTP status, and ``Retry-After``."""

    error: str
    status: int = 200
    retry_after: str | None = None


@dataclass
class SlackMessage:
    """One message in the fake workspace, with its edits and thread replies."""

    channel: str
    ts: str
    payload: dict[str, Any]
    edits: list[dict[str, Any]] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)

    @property
    def current(self) -> dict[str, Any]:
        return self.edits[-1] if self.edits else self.payload


@dataclass(frozen=True)
class RecordedCall:
    method: str
    args: dict[str, Any]
    error: str | None  # None when Slack answered ok
    at: float


class LocalSlackApi:
    """``with LocalSlackApi() as slack: WebClient(token, base_url=slack.base_url)``."""

    def __init__(
        self,
        *,
        token: str = FAKE_BOT_TOKEN,
        app_token: str = FAKE_APP_TOKEN,
        channels: dict[str, str] | None = None,
        rate_limit_per_second: float | None = None,
        burst: int = 1,
    ) -> None:
        self.token, self.app_token = token, app_token
        # name -> id; a message may name its channel either way, as in Slack.
        self.channels = dict(channels or {"ml-alerts": "C0ALERTS", "oncall": "C0ONCALL"})
        self.not_in_channel: set[str] = set()
        self.usergroups: dict[str, list[str]] = {}
        self.socket_url: str | None = None
        self.messages: dict[tuple[str, str], SlackMessage] = {}
        self.calls: list[RecordedCall] = []
        self._script: deque[SlackAnswer] = deque()
        self._bucket = _TokenBucket(rate_limit_per_second, burst) if rate_limit_per_second else None
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._server.block_on_close = False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def start(self) -> LocalSlackApi:
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalSlackApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, answers: Iterable[SlackAnswer]) -> None:
        """Answer the next chat.* calls with these errors, then normally."""
        with self._lock:
            self._script.extend(answers)

    def posted(self, channel: str | None = None) -> list[SlackMessage]:
        """Top-level messages, oldest first."""
        with self._lock:
            found = [m for m in self.messages.values() if channel in (None, m.channel)]
        return sorted(found, key=lambda m: float(m.ts))

    def message(self, channel: str, ts: str) -> SlackMessage:
        with self._lock:
            return self.messages[(channel, ts)]

    def click(
        self,
        message: SlackMessage,
        action_id: str,
        *,
        user_id: str = "U0ANA",
        username: str = "ana",
    ) -> dict[str, Any]:
        """The ``block_actions`` payload Slack sends when someone presses a button.

        The button (and its ``value``) is looked up in the message's current
        content; an action id it does not carry gets an empty value.
        """
        content = message.current
        blocks = list(content.get("blocks") or [])
        for attachment in content.get("attachments") or []:
            blocks += attachment.get("blocks") or []
        buttons = [e for b in blocks if b.get("type") == "actions" for e in b.get("elements") or []]
        button: dict[str, Any] = next((e for e in buttons if e.get("action_id") == action_id), {})
        return {
            "type": "block_actions",
            "user": {"id": user_id, "username": username, "name": username},
            "api_app_id": "A0LOCAL",
            "team": {"id": "T0LOCAL"},
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": message.channel,
            },
            "channel": {"id": message.channel},
            "message": {"ts": message.ts, **content},
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "value": button.get("value", ""),
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }

    # -- the API ---------------------------------------------------------------
    def _channel_id(self, name: object) -> str | None:
        raw = str(name or "").lstrip("#")
        if raw in self.channels.values():
            return raw
        return self.channels.get(raw)

    def _answer(self, method: str, args: dict[str, Any], token: str) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body); called under the lock."""
        wanted = self.app_token if method == "apps.connections.open" else self.token
        if token != wanted:
            return 200, {"ok": False, "error": "invalid_auth"}
        if method == "apps.connections.open":
            if self.socket_url is None:
                return 200, {"ok": False, "error": "socket_mode_not_enabled"}
            return 200, {"ok": True, "url": self.socket_url}
        if method == "usergroups.users.list":
            group = str(args.get("usergroup", ""))
            if group not in self.usergroups:
                return 200, {"ok": False, "error": "no_such_subteam"}
            return 200, {"ok": True, "users": list(self.usergroups[group])}
        if method not in ("chat.postMessage", "chat.update"):
            return 404, {"ok": False, "error": "unknown_method"}
        if self._script:
            answer = self._script.popleft()
            headers_ok = {"ok": False, "error": answer.error}
            if answer.retry_after is not None:
                headers_ok["retry_after"] = answer.retry_after
            return answer.status, headers_ok
        if self._bucket is not None:
            wait = self._bucket.take()
            if wait > 0:
                return 429, {"ok": False, "error": "ratelimited", "retry_after": f"{wait:.3f}"}
        channel = self._channel_id(args.get("channel"))
        if channel is None:
            return 200, {"ok": False, "error": "channel_not_found"}
        if channel in self.not_in_channel:
            return 200, {"ok": False, "error": "not_in_channel"}
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            return 200, {"ok": False, "error": "no_text"}
        if len(str(args.get("text") or "")) > MAX_TEXT:
            return 200, {"ok": False, "error": "msg_too_long"}
        content = {k: v for k, v in args.items() if k not in ("channel", "ts", "thread_ts")}
        if method == "chat.update":
            ts = str(args.get("ts", ""))
            found = self.messages.get((channel, ts))
            if found is None:
                return 200, {"ok": False, "error": "message_not_found"}
            found.edits.append(content)
            return 200, {"ok": True, "channel": channel, "ts": ts, "text": args.get("text")}
        ts = f"{1_700_000_000 + next(self._ts)}.000100"
        thread = args.get("thread_ts")
        if thread is not None:
            parent = self.messages.get((channel, str(thread)))
            if parent is None:
                return 200, {"ok": False, "error": "thread_not_found"}
            parent.replies.append({**content, "ts": ts})
        else:
            self.messages[(channel, ts)] = SlackMessage(channel, ts, content)
        return 200, {"ok": True, "channel": channel, "ts": ts, "message": {"ts": ts, **content}}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _serve(self) -> None:
                url = urlsplit(self.path)
                method = url.path.removeprefix("/api/")
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                args: dict[str, Any] = dict(parse_qsl(url.query))
                kind = self.headers.get("Content-Type", "")
                try:
                    if raw and "json" in kind:
                        args.update(json.loads(raw))
                    elif raw:
                        args.update(parse_qsl(raw.decode()))
                except ValueError:
                    args = {}
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                with api._lock:
                    status, body = api._answer(method, args, token)
                    api.calls.append(
                        RecordedCall(
                            method, args, None if body.get("ok") else body["error"], time.time()
                        )
                    )
                retry_after = body.pop("retry_after", None)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", str(retry_after or "1"))
                self.end_headers()
                self.wfile.write(data)

            do_POST = _serve
            do_GET = _serve

        return Handler


class LocalSocketModeServer:
    """A Socket Mode stand-in: ``slack.socket_url = socket_server.url``.

    ``send_interaction(payload)`` sends an ``interactive`` envelope to every
    connected client and returns its ``envelope_id``; ``wait_for_ack`` waits
    for the client's acknowledgement, which Slack needs within 3 seconds.
    """

    def __init__(self) -> None:
        from websockets.sync.server import serve

        self._connections: list[Any] = []
        self._acks: dict[str, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._server = serve(self._session, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket=local"

    def start(self) -> LocalSocketModeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    def __enter__(self) -> LocalSocketModeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _session(self, connection: Any) -> None:
        connection.send(
            json.dumps(
                {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0LOCAL"}}
            )
        )
        with self._cond:
            self._connections.append(connection)
            self._cond.notify_all()
        try:
            for message in connection:
                try:
                    data = json.loads(message)
                except ValueError:
                    continue
                if isinstance(data, dict) and "envelope_id" in data:
                    with self._cond:
                        self._acks[str(data["envelope_id"])] = data
                        self._cond.notify_all()
        except Exception:  # noqa: S110 - a client going away ends its session
            pass
        finally:
            with self._cond:
                if connection in self._connections:
                    self._connections.remove(connection)

    def wait_for_client(self, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: bool(self._connections), timeout)

    def send_interaction(self, payload: dict[str, Any]) -> str:
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": "interactive",
            "payload": payload,
            "accepts_response_payload": False,
        }
        with self._cond:
            connections = list(self._connections)
        for connection in connections:
            connection.send(json.dumps(envelope))
        return envelope_id

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: envelope_id in self._acks, timeout)


def signed_request(
    payload: dict[str, Any], signing_secret: str, timestamp: float | None = None
) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of an interaction request as Slack signs it (v0 HMAC-SHA256)."""
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(time.time() if timestamp is None else timestamp))
    base = b"v0:" + stamp.encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
    }
