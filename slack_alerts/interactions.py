"""Button presses from Slack: verify, acknowledge or silence, update the message.

``InteractionHandler`` is the one handler behind both transports:

- HTTP (``handle_request``, used by ``flows.interactions``' ASGI app): the
  request is verified with slack_sdk's ``SignatureVerifier`` against
  ``X-Slack-Signature`` and ``X-Slack-Request-Timestamp``. A timestamp more
  than 5 minutes from our clock is *stale*, a bad signature is *forged*, a
  signature seen before is *replayed*: each gets a 401 and is counted in the
  logs (never with the body, the signature or the secret).
- Socket Mode (``handle_payload``, fed by ``socket_mode_client``): Slack has
  already authenticated the WebSocket with the app-level token.

Only our own action ids (``slack_alerts.formatting.INTERACTIVE_ACTIONS``) act;
any other (a link button, another app's) is ignored and counted. With an
allow-list of Slack user ids (``U…``/``W…``) and user-group ids (``S…``),
only those people may acknowledge or silence. The acknowledgement goes into
the group's notification log (``slack_alerts.state.acknowledge``: no repeats
until the severity changes or it resolves), a silence into the
``SilenceStore`` (matcher: the model), both shared by every worker; then the
message is updated in place: "Acknowledged by @name", "Silenced until
18:00 UTC by @name".
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import Clock, SignatureVerifier

from slack_alerts.delivery import MessageMeta, MessageRef
from slack_alerts.formatting import ACK_ACTION, INTERACTIVE_ACTIONS, SILENCE_ACTIONS
from slack_alerts.logs import logger, protect_secret
from slack_alerts.messaging import MessageEditor, call_safely
from slack_alerts.models import MAX_ID_LENGTH
from slack_alerts.silences import Silence, SilenceStore
from slack_alerts.state import StateStore, acknowledge
from slack_alerts.text import escape_mrkdwn, single_line, truncate

# Slack's own window: requests older than 5 minutes are refused.
MAX_REQUEST_AGE_SECONDS = 300
REPLAY_CACHE_SIZE = 100_000
STATUS_BLOCK_ID = "slack_alerts.status"


@dataclass(frozen=True)
class InteractionResponse:
    """What the HTTP endpoint answers (Slack only needs the status within 3 s)."""

    status: int
    body: str = ""


@dataclass(frozen=True)
class InteractionResult:
    """What one interaction did: ``acknowledged``, ``silenced``, ``ignored`` or ``refused``."""

    outcome: str
    reason: str = ""
    receiver: str = ""
    model_id: str = ""
    user: str = ""
    silence: Silence | None = None
    message: MessageRef | None = None


class _Clock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


def status_line(text: str) -> dict[str, Any]:
    """The context block that says who acknowledged or silenced (replaced, never stacked)."""
    return {
        "type": "context",
        "block_id": STATUS_BLOCK_ID,
        "elements": [{"type": "mrkdwn", "text": text}],
    }


def with_status(message: Mapping[str, Any], line: str) -> dict[str, Any]:
    """The message's content with ``line`` as its status, before its buttons.

    Pure: ``message`` is the message as Slack sends it in the interaction
    payload (``text``, ``blocks``, ``attachments``); returns chat.update's
    content. A previous status line of ours is replaced.
    """

    def place(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = [b for b in blocks if b.get("block_id") != STATUS_BLOCK_ID]
        at = next((i for i, b in enumerate(kept) if b.get("type") == "actions"), len(kept))
        return [*kept[:at], status_line(line), *kept[at:]]

    content: dict[str, Any] = {"text": str(message.get("text") or line)}
    attachments = [dict(a) for a in message.get("attachments") or [] if isinstance(a, Mapping)]
    if attachments and attachments[0].get("blocks"):
        attachments[0]["blocks"] = place(list(attachments[0]["blocks"]))
        content["attachments"] = attachments
        if message.get("blocks"):
            content["blocks"] = list(message["blocks"])
    else:
        content["blocks"] = place(list(message.get("blocks") or []))
        if attachments:
            content["attachments"] = attachments
    return content


def until_text(ends_at: datetime, now: datetime) -> str:
    """``18:00 UTC`` today, ``Tue 1 Dec 18:00 UTC`` on another day."""
    end = ends_at.astimezone(UTC)
    if end.date() == now.astimezone(UTC).date():
        return f"{end:%H:%M} UTC"
    return f"{end:%a} {end.day} {end:%b %H:%M} UTC"


class InteractionHandler:
    """Verifies Slack interactions and acts on our buttons (see the module docstring).

    - ``signing_secret``: the Slack app's signing secret (HTTP only; Socket
      Mode needs none);
    - ``store`` / ``silences``: the shared notification logs and silences;
    - ``editor``: the bot's notifier, to update the message;
    - ``allowed``: user ids and user-group ids who may act; empty: everyone
      in the channel; ``members_of`` lists a user group's members
      (``usergroups.users.list``), cached for ``group_cache_seconds``;
    - ``now``: seconds since the epoch (tests move it).
    """

    def __init__(
        self,
        *,
        store: StateStore,
        silences: SilenceStore,
        editor: MessageEditor | None,
        signing_secret: str | None = None,
        allowed: Iterable[str] = (),
        members_of: Callable[[str], Iterable[str]] | None = None,
        group_cache_seconds: float = 300.0,
        lock_wait_seconds: float = 10.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.silences, self.editor = store, silences, editor
        self._verifier: SignatureVerifier | None = None
        if signing_secret:
            protect_secret(signing_secret)
            self._verifier = SignatureVerifier(signing_secret, clock=_Clock(now))
        self.allowed = frozenset(a.strip() for a in allowed if a.strip())
        self.members_of = members_of
        self.group_cache_seconds = group_cache_seconds
        self.lock_wait_seconds = lock_wait_seconds
        self.now = now
        self.counts: Counter[str] = Counter()
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"InteractionHandler(allowed={sorted(self.allowed)!r})"

    # -- HTTP ---------------------------------------------------------------------
    def handle_request(self, body: bytes, headers: Mapping[str, str]) -> InteractionResponse:
        """Verify one HTTP interaction request, then act on it (both in this call)."""
        checked = self.verify(body, headers)
        if isinstance(checked, InteractionResponse):
            return checked
        self.handle_payload(checked)
        return InteractionResponse(200)

    def verify(
        self, body: bytes, headers: Mapping[str, str]
    ) -> InteractionResponse | dict[str, Any]:
        """The request's payload when it is genuine, fresh and new; else the answer to send.

        CPU only (no I/O): an ASGI app can call it on its event loop, answer
        Slack at once (it wants a 200 within 3 s), then ``handle_payload``.
        """
        lower = {k.lower(): v for k, v in headers.items()}
        timestamp = lower.get("x-slack-request-timestamp", "")
        signature = lower.get("x-slack-signature", "")
        refused = self._verify(body, timestamp, signature)
        if refused:
            return InteractionResponse(401, "unauthorized")
        try:
            form = parse_qs(body.decode("utf-8"), strict_parsing=True)
            payload = json.loads(form["payload"][0])
            if not isinstance(payload, dict):
                raise ValueError("payload is not an object")
        except (UnicodeDecodeError, ValueError, KeyError, IndexError):
            self._count("ignored", "unreadable payload")
            return InteractionResponse(400, "the body must be payload=<JSON object>")
        return payload

    def _verify(self, body: bytes, timestamp: str, signature: str) -> str:
        """ "" when the request is genuine and new, else why it is refused."""
        if self._verifier is None:
            return self._refuse("no signing secret configured")
        now = self.now()
        try:
            age = abs(now - int(timestamp))
        except ValueError:
            return self._refuse("forged (no timestamp)")
        if age > MAX_REQUEST_AGE_SECONDS:
            return self._refuse("stale")
        if not self._verifier.is_valid(body, timestamp, signature):
            return self._refuse("forged")
        with self._lock:
            # A signature covers the timestamp: each genuine request has its own,
            # and it needs remembering only as long as it is fresh.
            while self._seen and next(iter(self._seen.values())) < now - MAX_REQUEST_AGE_SECONDS:
                self._seen.popitem(last=False)
            if signature in self._seen:
                replayed = True
            else:
                replayed = False
                self._seen[signature] = now
                if len(self._seen) > REPLAY_CACHE_SIZE:
                    self._seen.popitem(last=False)
        return self._refuse("replayed") if replayed else ""

    def _refuse(self, reason: str) -> str:
        self._count("refused", reason)
        return reason

    def _count(self, outcome: str, reason: str) -> None:
        with self._lock:
            self.counts[outcome] += 1
            self.counts[f"{outcome}: {reason}"] += 1
            total = self.counts[outcome]
        if outcome == "refused":
            logger.warning("interaction refused (%s); %d refused so far", reason, total)
        else:
            logger.info("interaction %s (%s)", outcome, reason)

    # -- both transports ---------------------------------------------------------
    def handle_payload(self, payload: Mapping[str, Any]) -> InteractionResult:
        """Act on one authenticated interaction payload; never raises."""
        try:
            return self._act(payload)
        except Exception as exc:  # a bug or an unreachable store: logged, never a crash
            self._count("failed", type(exc).__name__)
            return InteractionResult("failed", reason=type(exc).__name__)

    def _ignore(self, reason: str, **kw: Any) -> InteractionResult:
        self._count("ignored", reason)
        return InteractionResult("ignored", reason=reason, **kw)

    def _act(self, payload: Mapping[str, Any]) -> InteractionResult:
        if payload.get("type") != "block_actions":
            return self._ignore(f"type {single_line(str(payload.get('type')))[:40]}")
        actions = [a for a in payload.get("actions") or [] if isinstance(a, Mapping)]
        ours = next((a for a in actions if a.get("action_id") in INTERACTIVE_ACTIONS), None)
        if ours is None:
            return self._ignore("not one of our actions")
        try:
            value = json.loads(str(ours.get("value")))
            receiver, model_id = str(value["r"]), str(value["m"])
        except (ValueError, KeyError, TypeError):
            return self._ignore("unreadable button value")
        if not receiver or not model_id or max(len(receiver), len(model_id)) > MAX_ID_LENGTH:
            return self._ignore("unreadable button value")
        user = payload.get("user") if isinstance(payload.get("user"), Mapping) else {}
        assert isinstance(user, Mapping)
        user_id = str(user.get("id") or "")
        # Plain for what is stored (the silence's author), escaped where Slack renders it.
        plain = truncate(single_line(str(user.get("username") or user.get("name") or user_id)), 80)
        name = escape_mrkdwn(plain)
        if not self._allowed(user_id):
            return self._ignore(
                "user not on the allow-list", receiver=receiver, model_id=model_id, user=user_id
            )
        now = datetime.fromtimestamp(self.now(), UTC)
        action = str(ours["action_id"])
        silence: Silence | None = None
        if action == ACK_ACTION:
            acknowledge(
                self.store, receiver, model_id, f"@{name}", wait_seconds=self.lock_wait_seconds
            )
            line = f":eyes: Acknowledged by @{name}"
            outcome = "acknowledged"
        else:
            silence = self.silences.add(
                Silence.lasting(
                    timedelta(hours=SILENCE_ACTIONS[action]),
                    created_by=f"@{plain} ({user_id})" if user_id else f"@{plain}",
                    comment="from the Slack message's button",
                    now=now,
                    model_id=model_id,  # exact: the button's own model, "risk[v2]" or "*" alike
                )
            )
            until = until_text(silence.ends_at, now)
            line = f":zipper_mouth_face: Silenced until {until} by @{name}"
            outcome = "silenced"
        ref = self._update(payload, line, model_id)
        self._count(outcome, "")
        return InteractionResult(
            outcome,
            receiver=receiver,
            model_id=model_id,
            user=user_id,
            silence=silence,
            message=ref,
        )

    def _allowed(self, user_id: str) -> bool:
        if not self.allowed:
            return True
        if user_id in self.allowed:
            return True
        return any(
            user_id in self._members(group) for group in self.allowed if group.startswith("S")
        )

    def _members(self, group: str) -> frozenset[str]:
        if self.members_of is None:
            return frozenset()
        with self._lock:
            cached = self._groups.get(group)
        if cached is not None and time.monotonic() - cached[0] < self.group_cache_seconds:
            return cached[1]
        try:
            members = frozenset(self.members_of(group))
        except Exception as exc:  # unknown: nobody from that group, said in the logs
            logger.warning("members of user group %s unreadable (%s)", group, type(exc).__name__)
            return frozenset()
        with self._lock:
            self._groups[group] = (time.monotonic(), members)
        return members

    def _update(self, payload: Mapping[str, Any], line: str, model_id: str) -> MessageRef | None:
        container = payload.get("container")
        message = payload.get("message")
        channel = payload.get("channel")
        if not isinstance(container, Mapping) or self.editor is None:
            return None
        channel_id = container.get("channel_id") or (
            channel.get("id") if isinstance(channel, Mapping) else None
        )
        ts = container.get("message_ts")
        if not channel_id or not ts or not isinstance(message, Mapping):
            return None
        ref = MessageRef(str(channel_id), str(ts))
        meta = MessageMeta(kind="message", model_id=model_id)
        result = call_safely(
            self.editor.update,
            ref,
            with_status(message, line),
            meta,
            destination=self.editor.destination,
        )
        if not result.ok:
            logger.warning("message not updated after an interaction (%s)", result.error)
        return ref


def socket_mode_client(handler: InteractionHandler, app_token: str, web_client: Any) -> Any:
    """A slack_sdk Socket Mode client (built-in transport) feeding ``handler``.

    ``web_client`` is a slack_sdk ``WebClient`` (its ``base_url`` says where
    ``apps.connections.open`` is). Every envelope is acknowledged first (Slack
    wants it within 3 s), then handled. Call ``.connect()`` to start and
    ``.close()`` to stop.
    """
    from slack_sdk.socket_mode.builtin import SocketModeClient
    from slack_sdk.socket_mode.request import SocketModeRequest
    from slack_sdk.socket_mode.response import SocketModeResponse

    protect_secret(app_token)
    client = SocketModeClient(app_token=app_token, web_client=web_client)

    def listener(client: Any, request: SocketModeRequest) -> None:
        client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
        if request.type == "interactive":
            handler.handle_payload(request.payload)

    client.socket_mode_request_listeners.append(listener)
    return client
