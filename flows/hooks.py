"""State hooks that tell Slack when a flow or task fails or crashes.

    notify = slack_failure_hook("ml-alerts")

    @flow(on_failure=[notify], on_crashed=[notify])
    def nightly_training(): ...

The notice goes through the same pipeline as every alert (durable outbox
first, limits, dead letters), with a what-to-do line and a button to the run
when ``PREFECT_UI_URL`` is set. A hook never raises and never changes the
run's state: a broken webhook must not turn a failed run into something
else, or hide the original error.

The monitoring flows carry ``monitor_failure_hook``: it reports to the
flow's own ``webhook`` parameter, so a monitor that cannot read its data or
whose check raises tells the same channel its alerts go to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect.client.schemas.objects import FlowRun, State, TaskRun
from prefect.context import FlowRunContext
from prefect.logging import get_logger
from prefect.settings import PREFECT_UI_URL

from blocks import SlackAlertsRouter, SlackAlertsWebhook
from flows.delivery import deliver
from flows.routing import WebhookRef
from slack_alerts import SafetyEvent, SeverityLevel
from slack_alerts.models import MAX_ID_LENGTH
from slack_alerts.outbox import UNDELIVERED_ENV
from slack_alerts.text import untrusted_text

logger = get_logger("slack_alerts.hooks")

MONITOR_WHAT_TO_DO = (
    "this model is not being monitored until the check runs again; open the run's "
    "logs (a missing or unreadable source, a broken check), fix it, and re-run"
)

StateHook = Callable[[Any, FlowRun | TaskRun, State[Any]], None]


def run_url(run: FlowRun | TaskRun) -> str | None:
    """Link to the run in the Prefect UI, when ``PREFECT_UI_URL`` is set."""
    base = PREFECT_UI_URL.value()
    if not base:
        return None
    kind = "flow-run" if isinstance(run, FlowRun) else "task-run"
    return f"{str(base).rstrip('/')}/runs/{kind}/{run.id}"


def _exception_type(state: State[Any]) -> str:
    try:
        outcome = state.result(raise_on_failure=False)
    except Exception as exc:  # the result itself could not be loaded
        return type(exc).__name__
    return type(outcome).__name__ if isinstance(outcome, BaseException) else "unknown"


def failure_event(
    owner: Any,
    run: FlowRun | TaskRun,
    state: State[Any],
    severity: SeverityLevel,
    *,
    what_to_do: str = "open the run's logs, fix the cause, then run it again",
    model_id: str | None = None,
) -> SafetyEvent:
    """The alert for a failed or crashed run (a pure function of its inputs).

    ``model_id`` defaults to the run's ``model_id`` parameter, else the flow's name.
    """
    is_flow = isinstance(run, FlowRun)
    what = "flow" if is_flow else "task"
    name = str(getattr(owner, "name", None) or run.name)
    parameters = getattr(run, "parameters", None) or {}
    model_id = str(model_id or parameters.get("model_id") or name)[:MAX_ID_LENGTH]
    state_name = (state.name or state.type.value).lower()
    metadata: dict[str, Any] = {
        what: name,
        "run": run.name,
        "run_id": str(run.id),
        "state": state.name,
        "exception": _exception_type(state),
        "what_to_do": what_to_do,
    }
    url = run_url(run)
    if url:
        metadata["run_url"] = url
    message = untrusted_text(state.message or "", 1000)
    return SafetyEvent(
        event_type=f"{what}_run_{state_name}",
        model_id=model_id,
        description=(
            f"{what.title()} {name!r} run {run.name!r} is {state.name}: {message} "
            f"What to do: {what_to_do}."
        ),
        severity=severity,
        metadata=metadata,
    )


def _notify(webhook: WebhookRef, event: SafetyEvent, run: FlowRun | TaskRun) -> None:
    outcome, problem = deliver([event], webhook, dedup=False)
    failed = [o for o in outcome.alerts if not o.status.accounted]
    if problem or failed:
        if failed and not failed[0].location:
            where = (
                f"NOT kept: the outbox folder could not be written (make ${UNDELIVERED_ENV} "
                "writable); this notice is lost"
            )
        else:
            where = "kept in the outbox"
        logger.error(
            "Slack failure notice for run %s not delivered: %s; %s",
            run.name,
            failed[0].error if failed else "configuration",
            where,
        )


def slack_failure_hook(
    webhook: WebhookRef = None, severity: SeverityLevel | str = SeverityLevel.CRITICAL
) -> StateHook:
    """A hook for ``on_failure`` / ``on_crashed`` of flows, and ``on_failure`` of tasks.

    ``webhook`` is a block name, a block, a webhook URL, or None (the
    environment's ``SLACK_WEBHOOK_URL``, else the local preview).
    """
    level = SeverityLevel(severity)

    def hook(owner: Any, run: FlowRun | TaskRun, state: State[Any]) -> None:
        try:
            _notify(webhook, failure_event(owner, run, state, level), run)
        except Exception as exc:  # a hook must never change the run's outcome
            logger.error("Slack failure hook error for run %s: %s", run.name, type(exc).__name__)

    hook.__name__ = "slack_failure_hook"
    return hook


def monitor_failure_hook(flow: Any, flow_run: FlowRun, state: State[Any]) -> None:
    """``on_failure`` / ``on_crashed`` of the monitoring flows: a "monitor failed" alert
    to the flow's own ``webhook`` parameter."""
    try:
        context = FlowRunContext.get()
        parameters = (context.parameters if context else None) or flow_run.parameters or {}
        webhook = parameters.get("webhook")
        if not isinstance(webhook, str | SlackAlertsWebhook | SlackAlertsRouter | None):
            webhook = None  # a block serialized as parameters; the environment decides
        event = failure_event(
            flow,
            flow_run,
            state,
            SeverityLevel.CRITICAL,
            what_to_do=MONITOR_WHAT_TO_DO,
        )
        _notify(webhook, event, flow_run)
    except Exception as exc:  # a hook must never change the run's outcome
        logger.error("monitor failure hook error for run %s: %s", flow_run.name, type(exc).__name__)
