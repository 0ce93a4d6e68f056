"""slack-alerts: monitor ML models and send their alerts to Slack.

The demo, a test message, the preview page and the outbox of undelivered
alerts; blocks and limits on the Prefect server; silences; a fleet of models
from one YAML file (validate, run, deploy); backfills over past windows; and
the endpoint for Slack's buttons. `slack-alerts COMMAND --help` tells more.

Every error ends with what to do next; the exit code is 0 on success, 1 on a
handled error, 2 on a usage error (argparse).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import time
import webbrowser
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flows import fleet_cli
from flows.backfill import add_parser as add_backfill_parser
from flows.backfill import run_backfill
from flows.local_api import LocalApiError, start_local_api
from flows.server import (
    ServerRequired,
    check_reachable,
    configured_api_url,
    quiet_temporary_servers,
    require_server,
)

REPO_SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"


class CliError(Exception):
    """A problem the user can fix; the message says how."""


def _step(number: int, total: int, text: str) -> float:
    print(f"[{number}/{total}] {text}", flush=True)
    return time.perf_counter()


def _done(started: float, text: str) -> None:
    print(f"      {text} ({time.perf_counter() - started:.1f}s)", flush=True)


def _local_api_if_unset() -> None:
    """Without PREFECT_API_URL, start Prefect's local API with progress before using it.

    Left to Prefect, the first command on a busy machine can time out while its
    temporary server creates the local database (see flows.local_api).
    """
    if configured_api_url():
        return
    try:
        start_local_api()
    except LocalApiError as exc:
        raise CliError(str(exc)) from None


def _check_api(api_url: str) -> None:
    try:
        check_reachable(api_url, "slack-alerts demo")
    except ServerRequired as exc:
        raise CliError(str(exc)) from None


def _where_blocks_are() -> str:
    api_url = configured_api_url()
    if api_url:
        return f" (looked on the Prefect server at {api_url})"
    return (
        " (looked in Prefect's local database, because PREFECT_API_URL is not set; if you "
        "saved the block on a server, run `prefect config set PREFECT_API_URL=<its API URL>` "
        "first)"
    )


def sample_dir() -> Path:
    """The repo's sample data, or a fresh copy made from the fixed seed."""
    if (REPO_SAMPLE / "reference.csv").exists():
        return REPO_SAMPLE
    from slack_alerts.checks.sample_data import write_sample_data

    target = Path(tempfile.mkdtemp(prefix="slack-alerts-sample-"))
    write_sample_data(target)
    return target


def run_demo(outbox: Path, webhook: str | None) -> int:
    """Run the three monitoring flows once on the sample data."""
    from flows.routing import block_name_problem

    if webhook is not None and (problem := block_name_problem(webhook)) is not None:
        raise CliError(f"--webhook: {problem}")
    os.environ["SLACK_ALERTS_OUTBOX"] = str(outbox)
    data = sample_dir()
    target = webhook or ("SLACK_WEBHOOK_URL" if os.environ.get("SLACK_WEBHOOK_URL") else None)
    where = f"Slack via {target}" if target else f"the local preview in {outbox}"
    print(f"slack-alerts demo: the monitoring flows on live and sample data, alerts to {where}")

    api_url = configured_api_url()
    if api_url:
        started = _step(1, 3, f"Prefect API: {api_url} (PREFECT_API_URL)")
        _check_api(api_url)
        _done(started, "answering")
    else:
        started = _step(1, 3, "Prefect API: none configured, starting Prefect's local API")
        try:
            local = start_local_api()
        except LocalApiError as exc:
            raise CliError(str(exc)) from None
        _done(started, f"ready on {local}")
    from flows import security_monitoring_flow
    from flows.demo import run_live_demo
    from flows.dispatch import AlertsNotDelivered
    from flows.tasks import TransientDeliveryError

    expected = (AlertsNotDelivered, TransientDeliveryError)  # Slack refused: said below
    undelivered: list[str] = []
    reports: list[Any] = []
    started = _step(2, 3, "Drift and fairness: four hourly scheduled runs on an embedded database")
    try:
        with _expected(*expected):
            reports += run_live_demo(webhook)
        _done(started, f"{len(reports)} flow runs")
    except AlertsNotDelivered as exc:
        undelivered.append(str(exc))
        print("      alerts not delivered: the remaining runs of this step were skipped")
    started = _step(3, 3, "Security: scanning the model-service audit log")
    try:
        with _expected(*expected):
            reports.append(
                security_monitoring_flow(
                    str(data / "audit_log.jsonl"), webhook, str(data / "security_rules.json")
                )
            )
        _done(started, f"{reports[-1].records} records, {len(reports[-1].malformed)} malformed")
    except AlertsNotDelivered as exc:
        undelivered.append(str(exc))
        print("      alerts not delivered")
    if undelivered:
        raise CliError(
            f"{undelivered[0]} Next: `slack-alerts send-test --block NAME` (or check "
            "$SLACK_WEBHOOK_URL) to see why Slack refused, then `slack-alerts replay`."
        )

    severity = Counter(a.severity for r in reports for a in r.alerts)
    status = Counter(a.status for r in reports for a in r.alerts)
    print()
    print(
        "Alerts: "
        + ", ".join(f"{severity.get(s, 0)} {s}" for s in ("critical", "warning", "info"))
        + " | "
        + ", ".join(f"{n} {s}" for s, n in sorted(status.items()))
    )
    if target is None:
        from slack_alerts import DurableOutbox
        from slack_alerts.preview import write_preview

        page = write_preview(outbox, undelivered=DurableOutbox())
        print(f"Preview: {page}  (open it in a browser, or run: slack-alerts preview --open)")
    failed = sum(n for s, n in status.items() if s.startswith("failed"))
    return 1 if failed else 0


def send_test(block_name: str) -> int:
    from blocks import SlackAlertsBot, SlackAlertsRouter
    from flows.delivery import CONTROL
    from flows.routing import (
        ControlPlaneUnavailable,
        WebhookInvalid,
        WebhookNotFound,
        load_webhook,
    )

    _local_api_if_unset()
    try:
        loaded = load_webhook(block_name, CONTROL)
    except WebhookNotFound as exc:
        raise CliError(f"{exc}{_where_blocks_are()}.") from None
    except (WebhookInvalid, ControlPlaneUnavailable) as exc:
        raise CliError(str(exc)) from None
    block = loaded.default if isinstance(loaded, SlackAlertsRouter) else loaded
    if isinstance(block, SlackAlertsBot):
        from flows.routing import bot_notifier
        from slack_alerts.formatting import plain_message

        sent = bot_notifier(block).post(
            plain_message("If you can read this, slack-alerts can post here.", title="Test")
        )
        print(f"Test message to {sent.destination}: {sent.status.value} {sent.error or ''}")
        return 0 if sent.ok else 1
    try:
        client = block.get_client()
    except ValueError:
        raise CliError(
            f"block {block_name!r} does not hold a valid webhook URL; copy the URL again from "
            "Slack's Incoming Webhooks page and save the block again"
        ) from None
    with client:
        result = client.send_message(
            "If you can read this, slack-alerts can post to this channel.",
            title="slack-alerts test",
        )
    if result.ok:
        print(f"Sent a test message to {result.destination} in {result.elapsed_seconds:.2f}s")
        return 0
    hint = {
        "channel_not_found": "the channel was deleted or renamed; create a new webhook for it",
        "invalid_token": "the webhook was revoked; create a new one and update the block",
        "no_service": "the webhook URL is wrong or was removed; copy it again from Slack",
        "connection_error": "check network egress to hooks.slack.com (proxy, firewall)",
        "timeout": "Slack did not answer in time; raise timeout_seconds or check the network",
    }.get(result.error or "", "see the error above")
    raise CliError(
        f"Slack did not accept the test message: {result.error} ({result.detail}). Next: {hint}."
    )


def preview(outbox: Path, open_browser: bool) -> int:
    from slack_alerts import DurableOutbox
    from slack_alerts.notify.preview import read_outbox
    from slack_alerts.preview import write_preview

    if not outbox.is_dir() or not read_outbox(outbox):
        raise CliError(
            f"No preview messages in {outbox}. "
            "Run `slack-alerts demo` first, or pass the outbox folder."
        )
    page = write_preview(outbox, undelivered=DurableOutbox())
    print(f"Preview: {page}")
    if open_browser:
        webbrowser.open(page.resolve().as_uri())
    return 0


class _NoTracebackFor(logging.Filter):
    """Drops the traceback (not the record) of a log line about an expected exception."""

    def __init__(self, expected: type[BaseException]) -> None:
        super().__init__()
        self.expected = expected

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], self.expected):
            record.exc_info = None
            record.exc_text = None
        return True


@contextlib.contextmanager
def _expected(*failures: type[BaseException]) -> Iterator[None]:
    """While a command runs flows that may end in these expected failures, Prefect logs
    their one line without a traceback (the command prints what to do)."""
    quiet = [_NoTracebackFor(kind) for kind in failures]
    names = ("prefect.flow_runs", "prefect.task_runs", "prefect.engine")
    loggers = [logging.getLogger(name) for name in names]
    for logger in loggers:
        for item in quiet:
            logger.addFilter(item)
    try:
        yield
    finally:
        for logger in loggers:
            for item in quiet:
                logger.removeFilter(item)


def replay(webhook: str | None, outbox: Path | None, dead: bool, dry_run: bool) -> int:
    from flows.replay import ReplayIncomplete, replay_outbox
    from slack_alerts import DurableOutbox

    box = DurableOutbox(outbox)
    pending = box.pending() + (box.dead_letters() if dead else [])
    if not pending:
        print(f"Nothing to replay: {box.directory} holds no undelivered alerts.")
        return 0
    if dry_run:
        return show_outbox(outbox)
    _local_api_if_unset()
    try:
        with _expected(ReplayIncomplete):
            report = replay_outbox(webhook, str(box.directory), dead)
    except ReplayIncomplete as exc:
        report = exc.report  # printed below; the records left make the exit code 1
    print(
        f"Replayed: {report.delivered} delivered, {report.deduplicated} already sent "
        f"(deduplicated), {report.dead} refused by Slack (dead letters); "
        f"{report.remaining} record(s) still pending in {box.directory}."
    )
    for reason in report.skipped:
        print(f"  not replayed: {reason}")
    if report.remaining:
        raise CliError(
            f"some alerts are still undelivered ({report.stopped_by or 'see above'}). Fix the "
            "cause (`slack-alerts send-test --block NAME`), then run `slack-alerts replay` again."
        )
    return 0


def show_outbox(outbox: Path | None) -> int:
    from slack_alerts import DurableOutbox

    box = DurableOutbox(outbox)
    for title, records in (("Pending", box.pending()), ("Dead letters", box.dead_letters())):
        print(f"{title} in {box.directory if title == 'Pending' else box.dead_directory}:")
        if not records:
            print("  none")
        for record in records:
            route = ", ".join(f"{k}={v}" for k, v in record.route.items()) or "unknown"
            print(
                f"  {record.created:%Y-%m-%d %H:%M} UTC  model {record.model_id[:40]}  "
                f"{record.size} alert(s)  to {route}  {record.reason}"
                + (f" ({record.error})" if record.error else "")
            )
    return 0


def register() -> int:
    api_url = require_server("slack-alerts register")
    from blocks import SlackAlertsBot, SlackAlertsRouter, SlackAlertsWebhook

    for block in (SlackAlertsWebhook, SlackAlertsBot, SlackAlertsRouter):
        block.register_type_and_schema()
        print(f"Registered block type {block.get_block_type_slug()} on {api_url}")
    return 0


def save_webhook(name: str, overwrite: bool) -> int:
    """Save ``$SLACK_WEBHOOK_URL`` as a Slack Alerts Webhook block on the server."""
    from pydantic import ValidationError

    from blocks import SlackAlertsWebhook
    from flows.routing import block_name_problem
    from slack_alerts.client import WEBHOOK_ENV
    from slack_alerts.text import redact_url

    problem = block_name_problem(name)
    if problem is not None:
        raise CliError(problem)
    command = f"slack-alerts save-webhook {name}" + (" --overwrite" if overwrite else "")
    api_url = require_server(command)
    url = os.environ.get(WEBHOOK_ENV, "").strip()
    if not url:
        raise CliError(
            f"{WEBHOOK_ENV} is not set. Next: copy the URL from the Slack app's Incoming "
            f"Webhooks page, `export {WEBHOOK_ENV}=https://hooks.slack.com/services/...`, then "
            f"run `{command}` again (the URL is read from the environment so that it never "
            "lands in your shell history)."
        )
    try:
        block = SlackAlertsWebhook(webhook_url=url)
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise CliError(f"{WEBHOOK_ENV} is not usable: {problems}.") from None
    try:
        block.save(name, overwrite=overwrite)
    except ValueError as exc:
        if "already in use" not in str(exc):
            raise
        raise CliError(
            f"A Slack Alerts Webhook block named {name!r} already exists on {api_url}. "
            f"Next: `slack-alerts save-webhook {name} --overwrite` to replace it (its other "
            "settings go back to their defaults), or choose another name."
        ) from None
    print(f"Saved Slack Alerts Webhook block {name!r} ({redact_url(url)}) on {api_url}")
    print(f"Check it: slack-alerts send-test --block {name}")
    return 0


def limits() -> int:
    from prefect.client.orchestration import get_client

    from flows.backend.limits import PREFIX

    _local_api_if_unset()
    found = []
    with get_client(sync_client=True) as client:
        offset, page = 0, 200  # the API's largest page
        while True:
            batch = client.read_global_concurrency_limits(limit=page, offset=offset)
            found += [limit for limit in batch if limit.name.startswith(PREFIX)]
            if len(batch) < page:
                break
            offset += page
    if not found:
        print("No slack-alerts limits yet: they are created on a model's first alert.")
        return 0
    print(f"{'limit':60} {'slots':>5} {'active':>6} {'refill/s':>8}")
    for limit in sorted(found, key=lambda x: x.name):
        print(
            f"{limit.name:60} {limit.limit:>5} {limit.active_slots:>6} "
            f"{limit.slot_decay_per_second or 0:>8.3f}"
        )
    return 0


def _api_problem(exc: BaseException) -> str | None:
    text = f"{type(exc).__name__}: {exc}"
    if any(word in text for word in ("ConnectError", "Connection refused", "ConnectTimeout")):
        url = os.environ.get("PREFECT_API_URL") or "the configured API"
        return (
            f"Cannot reach the Prefect API at {url}. Start one with `prefect server start`, "
            "or unset PREFECT_API_URL to use Prefect's embedded API."
        )
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="slack-alerts", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="four hourly drift and fairness runs and a security scan, on sample data",
    )
    demo.add_argument(
        "--outbox",
        type=Path,
        default=Path(os.environ.get("SLACK_ALERTS_OUTBOX") or "outbox"),
        help="folder of the local preview's messages (default: $SLACK_ALERTS_OUTBOX or ./outbox)",
    )
    demo.add_argument("--webhook", help="a saved Slack Alerts Webhook/Router block to send to")
    test = commands.add_parser("send-test", help="send one test message through a saved block")
    test.add_argument("--block", required=True, help="name of a saved Slack Alerts Webhook block")
    show = commands.add_parser("preview", help="build the HTML page of the local preview outbox")
    show.add_argument(
        "outbox",
        nargs="?",
        type=Path,
        default=Path(os.environ.get("SLACK_ALERTS_OUTBOX") or "outbox"),
    )
    show.add_argument("--open", action="store_true", help="open it in the default browser")
    again = commands.add_parser("replay", help="deliver the durable outbox of undelivered alerts")
    again.add_argument(
        "--webhook", help="a saved Slack Alerts Webhook/Router block (default: each record's own)"
    )
    again.add_argument("--outbox", type=Path, help="default: $SLACK_ALERTS_UNDELIVERED")
    again.add_argument(
        "--dead", action="store_true", help="also retry the dead letters (after fixing the cause)"
    )
    again.add_argument("--dry-run", action="store_true", help="only show what would be replayed")
    box = commands.add_parser("outbox", help="list undelivered alerts and dead letters")
    box.add_argument("--outbox", type=Path, help="default: $SLACK_ALERTS_UNDELIVERED")
    commands.add_parser("register", help="register the block types with the Prefect server")
    save = commands.add_parser(
        "save-webhook", help="save $SLACK_WEBHOOK_URL as a Slack Alerts Webhook block"
    )
    save.add_argument("name", help="the block's name, e.g. ml-alerts")
    save.add_argument("--overwrite", action="store_true", help="replace a block of that name")
    commands.add_parser("limits", help="show the per-model limits on the Prefect server")
    from flows import silence_cli

    silence_cli.register(commands)
    serve = commands.add_parser(
        "serve-interactions", help="receive Slack button presses (HTTP endpoint or Socket Mode)"
    )
    serve.add_argument("--bot", required=True, help="name of a saved Slack Alerts Bot block")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=3000, help="port to listen on")
    serve.add_argument("--socket-mode", action="store_true", help="use the block's app token")
    fleet_cli.register(commands)
    add_backfill_parser(commands)
    args = parser.parse_args(argv)
    quiet_temporary_servers()
    try:
        if args.command == "demo":
            return run_demo(args.outbox, args.webhook)
        if args.command == "send-test":
            return send_test(args.block)
        if args.command == "preview":
            return preview(args.outbox, args.open)
        if args.command == "replay":
            return replay(args.webhook, args.outbox, args.dead, args.dry_run)
        if args.command == "outbox":
            return show_outbox(args.outbox)
        if args.command == "register":
            return register()
        if args.command == "save-webhook":
            return save_webhook(args.name, args.overwrite)
        if args.command == "silence":
            return silence_cli.run(args)
        if args.command == "serve-interactions":
            from flows import interactions

            return interactions.serve(args.bot, args.host, args.port, args.socket_mode)
        if args.command == "fleet":
            return fleet_cli.main(args)
        if args.command == "backfill":
            return run_backfill(args)
        return limits()
    except (CliError, ServerRequired, ValueError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        problem = _api_problem(exc)
        if problem is None:
            raise
        print(f"error: {problem}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    # `python -m flows.cli`: run the importable module, not this __main__ copy, so that
    # the CliError other modules raise (imported from flows.cli) is the one caught here.
    from flows.cli import main as _main

    sys.exit(_main())
