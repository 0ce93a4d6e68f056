"""``slack-alerts silence add | list | expire``: Alertmanager-style silences from the shell.

The same from Python::

    from datetime import timedelta
    from flows.delivery import silence_store
    from slack_alerts.silences import Silence

    silence_store().add(Silence.lasting(timedelta(hours=4), created_by="ana",
                                        comment="retraining", model_id="sepsis-v3"))

Matchers are exact (``--model 'risk[v2]'`` is that model only); a pattern
only when asked (``--model-pattern 'sepsis-*'``). ``--kind`` and
``--severity`` are checked against the real values, and ``--duration`` is
at most a year (``MAX_SILENCE``): a silence that could never match, or never
end, is refused.

Silences live where the flows keep their state (the Prefect server, or the
database named by ``$SLACK_ALERTS_STATE_URL``), so every worker sees them.
Without either (no ``PREFECT_API_URL``), the commands refuse, as ``register``
does: a silence written to a temporary server would mute nothing.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from slack_alerts.silences import (
    KIND_ALIASES,
    KINDS,
    MATCHERS,
    MAX_SILENCE,
    PATTERNS,
    SEVERITIES,
    Silence,
    SilenceStore,
)

_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(min|s|m|h|d|w)\b\s*")


def parse_duration(text: str) -> timedelta:
    """``4h``, ``30m``, ``1d 2h``, ``90s``: a positive duration, or ValueError naming the input."""
    parts = _PART.findall(text.lower())
    rest = _PART.sub("", text.lower()).strip()
    seconds = sum(float(n) * _UNITS[unit] for n, unit in parts)
    if not parts or rest or not seconds > 0:
        raise ValueError(f"--duration {text!r} is not a positive duration such as 4h, 30m or 1d")
    if seconds > MAX_SILENCE.total_seconds():
        raise ValueError(
            f"--duration {text!r} is longer than a silence may last ({MAX_SILENCE.days}d); "
            "give a shorter one, and renew it if needed"
        )
    return timedelta(seconds=seconds)


def _flag(name: str) -> str:
    return "--model" if name == "model_id" else f"--{name}"


def _problems(error: ValidationError) -> list[str]:
    """Pydantic's messages, each naming its flag, never the rejected value."""
    flags = {"created_by": "--author", "comment": "--comment"}
    found = []
    for item in error.errors(include_input=False, include_url=False):
        message = str(item["msg"]).removeprefix("Value error, ")
        field = str(item["loc"][0]) if item["loc"] else ""
        found.append(f"{flags[field]}: {message}" if field in flags else message)
    return found


_GLOB = re.compile(r"[*?[]")


def _where(command: str) -> str:
    """Where the flows keep silences; refuses a temporary Prefect server (as ``register``)."""
    from flows.delivery import STATE_URL_ENV
    from flows.server import require_server

    if os.environ.get(STATE_URL_ENV):
        return f"in the database named by ${STATE_URL_ENV}"
    return f"on the Prefect server at {require_server(f'slack-alerts silence {command}')}"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``silence`` command and its sub-commands to the CLI's parser."""
    silence = commands.add_parser("silence", help="add, list or expire silences")
    actions = silence.add_subparsers(dest="silence_command", required=True)
    add = actions.add_parser("add", help="mute matching alerts for a while (they are counted)")
    kinds = ", ".join([*KINDS, *(f"{a} (= {k})" for a, k in KIND_ALIASES.items())])
    helps = {
        "model_id": "the model id, exactly (risk[v2] is literal; see --model-pattern)",
        "kind": f"the alert kind: {kinds}",
        "metric": "the metric, violation or event type, exactly (see --metric-pattern)",
        "severity": f"the severity: {', '.join(SEVERITIES)} (any case)",
    }
    for name in MATCHERS:
        add.add_argument(_flag(name), dest=name, help=helps[name])
    for name in PATTERNS:
        add.add_argument(
            f"{_flag(name)}-pattern",
            dest=f"{name}_pattern",
            help=f"{name}: a shell-style pattern such as 'sepsis-*' (instead of an exact value)",
        )
    add.add_argument("--duration", default="4h", help="how long, e.g. 4h, 30m, 1d (default 4h)")
    add.add_argument("--author", default=None, help="who silences (default: your login name)")
    add.add_argument("--comment", default="", help="why")
    listing = actions.add_parser("list", help="show active and future silences")
    listing.add_argument("--all", action="store_true", help="also show expired ones")
    expire = actions.add_parser("expire", help="end a silence now")
    expire.add_argument("id", help="the silence's id, from `slack-alerts silence list`")


def run(args: argparse.Namespace, store: SilenceStore | None = None) -> int:
    """Carry out a parsed ``silence`` command (``store``: default, the flows' own)."""
    where = ""
    if store is None:
        from flows.delivery import silence_store

        where = _where(args.silence_command)
        store = silence_store()
    now = datetime.now(UTC)
    if args.silence_command == "add":
        matchers = {n: getattr(args, n) for n in MATCHERS if getattr(args, n) is not None}
        patterns = {n: getattr(args, f"{n}_pattern") for n in PATTERNS}
        patterns = {n: p for n, p in patterns.items() if p is not None}
        if not matchers and not patterns:
            raise ValueError(
                "give at least one of --model, --kind, --metric, --severity "
                "(or --model-pattern, --metric-pattern)"
            )
        try:
            silence = Silence.lasting(
                parse_duration(args.duration),
                created_by=args.author or getpass.getuser(),
                comment=args.comment,
                now=now,
                patterns=patterns,
                **matchers,
            )
        except ValidationError as exc:
            raise ValueError("; ".join(_problems(exc))) from None
        store.add(silence)
        print(
            f"silence {silence.id}: {silence.describe()}" + (f", stored {where}" if where else "")
        )
        for name, value in silence.matchers.items():
            if name in PATTERNS and _GLOB.search(value):
                print(
                    f"note: {name} {value!r} is matched exactly, as written; for a pattern, "
                    f"use {_flag(name)}-pattern {value!r}"
                )
        return 0
    if args.silence_command == "expire":
        ended = store.expire(args.id, now=now)
        if ended is None:
            raise ValueError(f"no silence with id {args.id!r}; see `slack-alerts silence list`")
        print(f"silence {ended.id} expired at {now:%Y-%m-%d %H:%M} UTC")
        return 0
    shown = sorted(
        (s for s in store.all() if args.all or s.ends_at > now), key=lambda s: s.starts_at
    )
    if not shown:
        print("No silences." if args.all else "No active silences.")
        return 0
    for s in shown:
        state = "active" if s.active(now) else ("expired" if s.ends_at <= now else "pending")
        comment = f" ({s.comment})" if s.comment else ""
        print(f"{s.id}  {state:8} {s.describe()}{comment}")
    return 0
