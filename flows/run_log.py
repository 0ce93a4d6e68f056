"""The core's warnings and log records in the Prefect run's log, where users look.

The core (``slack_alerts``) logs to the standard ``logging`` loggers
``slack_alerts`` and ``slack_alerts.warnings`` and never imports Prefect.
Prefect sends to a run's log only what its own loggers (or those named in
``PREFECT_LOGGING_EXTRA_LOGGERS``) record; this attaches Prefect's API log
handler to ours, so that an unknown metric direction, a declared kind for a
missing column or a failed delivery shows in the run's log in the UI. Outside
a flow or task run, the handler stays silent (Prefect's own handler would
warn about a missing run context on every record).
"""

from __future__ import annotations

import logging
import threading

from prefect.context import FlowRunContext, TaskRunContext
from prefect.logging.handlers import APILogHandler

from slack_alerts.logs import logger, warnings_logger

__all__ = ["RunLogHandler", "send_core_logs_to_run_log"]


class RunLogHandler(APILogHandler):
    """Prefect's API log handler, for records made inside a flow or task run only."""

    def emit(self, record: logging.LogRecord) -> None:
        if FlowRunContext.get() is None and TaskRunContext.get() is None:
            return
        super().emit(record)


_HANDLER = RunLogHandler()
_lock = threading.Lock()


def send_core_logs_to_run_log() -> None:
    """Attach the handler to the core's loggers (once per process; idempotent)."""
    with _lock:
        for core_logger in (logger, warnings_logger):
            if _HANDLER not in core_logger.handlers:
                core_logger.addHandler(_HANDLER)
