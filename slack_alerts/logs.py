"""The core's loggers, its warnings, and webhook secrets kept out of every log record.

``logger`` ("slack_alerts") records deliveries and failures. ``warn_and_record`` warns the
caller through Python's ``warnings`` and records the same text on
``warnings_logger`` ("slack_alerts.warnings"), which prints nothing by itself
(the warning already does): an orchestrator attaches a handler to it to put
these in its run log (``flows.run_log``).

urllib3 logs ``"POST /services/T…/B…/<secret> HTTP/1.1" 200`` at DEBUG on
our behalf. A filter on its loggers rewrites such records before any handler
sees them.
"""

from __future__ import annotations

import logging
import threading
import warnings

from slack_alerts.text import redact_secrets

logger = logging.getLogger("slack_alerts")
warnings_logger = logging.getLogger("slack_alerts.warnings")
warnings_logger.addHandler(logging.NullHandler())
warnings_logger.propagate = False  # shown once, as a Python warning, unless a handler is attached


def warn_and_record(message: str, category: type[Warning], stacklevel: int = 1) -> None:
    """``warnings.warn(message, category)`` for the caller, also recorded on ``warnings_logger``.

    ``stacklevel`` counts as in ``warnings.warn`` from the caller of this function.
    """
    warnings.warn(message, category, stacklevel=stacklevel + 1)
    warnings_logger.warning("%s: %s", category.__name__, message)


# Loggers that may print a request URL or path for us.
_HTTP_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.util.retry",
    "requests",
)


class SecretRedactingFilter(logging.Filter):
    """Rewrite records so registered webhook URLs never reach a handler."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def register(self, secret: str) -> None:
        with self._lock:
            self._secrets.add(secret)

    def scrub(self, text: str) -> str:
        with self._lock:
            secrets = tuple(self._secrets)
        return redact_secrets(text, secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix
            return True
        cleaned = self.scrub(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


_FILTER = SecretRedactingFilter()
_installed = False
_install_lock = threading.Lock()


def protect_secret(secret: str) -> None:
    """Register a webhook URL and make sure the HTTP loggers are filtered."""
    global _installed
    _FILTER.register(secret)
    with _install_lock:
        if not _installed:
            for name in (*_HTTP_LOGGERS, "slack_alerts"):
                logging.getLogger(name).addFilter(_FILTER)
            _installed = True


def scrub(text: str) -> str:
    """Remove every registered secret from ``text`` (exception messages)."""
    return _FILTER.scrub(text)
