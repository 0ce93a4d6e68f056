"""State hooks that tell Slack when any flow or task fails or crashes.

    notify = slack_failure_hook("ml-alerts")

    @flow(on_failure=[notify], on_crashed=[notify])
    def nightly_training(): ...

A hook never raises and never changes the run's state: a broken webhook
must not turn a failed run into something else, or hide the original error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect.client.schemas.objects import FlowRun, State, TaskRun
from prefect.logging import get_logger
from prefect.settings import PREFECT_UI_URL

from flows.routing import WebhookRef, client_for, resolve_webhook
from slack_alerts import SafetyEvent, SeverityLevel

logger = get_logger("slack_alerts.hooks")

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
    owner: Any, run: FlowRun | TaskRun, state: State[Any], severity: SeverityLevel
) -> SafetyEvent:
    """The alert for a failed or crashed run (a pure function of its inputs)."""
    is_flow = isinstance(run, FlowRun)
    what = "flow" if is_flow else "task"
    name = str(getattr(owner, "name", None) or run.name)
    parameters = getattr(run, "parameters", None) or {}
    model_id = str(parameters.get("model_id") or name)
    state_name = (state.name or state.type.value).lower()
    metadata: dict[str, Any] = {
        what: name,
        "run": run.name,
        "run_id": str(run.id),
        "state": state.name,
        "exception": _exception_type(state),
    }
    url = run_url(run)
    if url:
        metadata["run_url"] = url
    return SafetyEvent(
        event_type=f"{what}_run_{state_name}",
        model_id=model_id,
        description=(
            f"{what.title()} {name!r} run {run.name!r} is {state.name}: {state.message or ''}"
        ),
        severity=severity,
        metadata=metadata,
    )


def slack_failure_hook(
    webhook: WebhookRef = None, severity: SeverityLevel | str = SeverityLevel.CRITICAL
) -> StateHook:
    """A hook for ``on_failure`` / ``on_crashed`` of flows, and ``on_failure`` of tasks."""
    level = SeverityLevel(severity)

    def hook(owner: Any, run: FlowRun | TaskRun, state: State[Any]) -> None:
        try:
            event = failure_event(owner, run, state, level)
            block = resolve_webhook(webhook, event)
            result = client_for(block).deliver(event)
            if not result.ok:
                logger.error(
                    "Slack failure notice for run %s not delivered: %s (%s)",
                    run.name,
                    result.status.value,
                    result.error,
                )
        except Exception as exc:  # a hook must never change the run's outcome
            logger.error("Slack failure hook error for run %s: %s", run.name, type(exc).__name__)

    hook.__name__ = "slack_failure_hook"
    return hook
