"""``slack-alerts silence add | list | expire``: Alertmanager-style silences from the shell.

The same from Python::

    from datetime import timedelta
    from flows.delivery import silence_store
    from slack_alerts.silences import Silence

    silence_store().add(Silence.lasting(timedelta(hours=4), created_by="ana",
                                        comment="retraining", model_id="sepsis-*"))

Silences live where the flows keep their state (the Prefect server, or the
database named by ``$SLACK_ALERTS_STATE_URL``), so every worker sees them.
"""

from __future__ import annotations

import argparse
import getpass
import re
from datetime import UTC, datetime, timedelta

from slack_alerts.silences import MATCHERS, Silence, SilenceStore

_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(min|s|m|h|d|w)\b\s*")


def parse_duration(text: str) -> timedelta:
    """``4h``, ``30m``, ``1d 2h``, ``90s``: a positive duration, or ValueError naming the input."""
    parts = _PART.findall(text.lower())
    rest = _PART.sub("", text.lower()).strip()
    value = sum(
        (timedelta(seconds=float(n) * _UNITS[unit]) for n, unit in parts), start=timedelta(0)
    )
    if not parts or rest or value <= timedelta(0):
        raise ValueError(f"--duration {text!r} is not a positive duration such as 4h, 30m or 1d")
    return value


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``silence`` command and its sub-commands to the CLI's parser."""
    silence = commands.add_parser("silence", help="add, list or expire silences")
    actions = silence.add_subparsers(dest="silence_command", required=True)
    add = actions.add_parser("add", help="mute matching alerts for a while (they are counted)")
    for name in MATCHERS:
        flag = "--model" if name == "model_id" else f"--{name}"
        add.add_argument(flag, dest=name, help=f"{name}: an exact value or a pattern such as a-*")
    add.add_argument("--duration", default="4h", help="how long, e.g. 4h, 30m, 1d (default 4h)")
    add.add_argument("--author", default=None, help="who silences (default: your login name)")
    add.add_argument("--comment", default="", help="why")
    listing = actions.add_parser("list", help="show active and future silences")
    listing.add_argument("--all", action="store_true", help="also show expired ones")
    expire = actions.add_parser("expire", help="end a silence now")
    expire.add_argument("id", help="the silence's id, from `slack-alerts silence list`")


def run(args: argparse.Namespace, store: SilenceStore | None = None) -> int:
    """Carry out a parsed ``silence`` command (``store``: default, the flows' own)."""
    if store is None:
        from flows.delivery import silence_store

        store = silence_store()
    now = datetime.now(UTC)
    if args.silence_command == "add":
        matchers = {n: getattr(args, n) for n in MATCHERS if getattr(args, n)}
        if not matchers:
            raise ValueError("give at least one of --model, --kind, --metric, --severity")
        silence = store.add(
            Silence.lasting(
                parse_duration(args.duration),
                created_by=args.author or getpass.getuser(),
                comment=args.comment,
                now=now,
                **matchers,
            )
        )
        print(f"silence {silence.id}: {silence.describe()}")
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
