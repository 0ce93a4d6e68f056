"""Where a model's rows live, and how to read one time window of them.

``Source`` is a SQL table or query (``SqlSource``) or files
(``FileSource``), told apart by ``kind``. Each has
``read_window(window, columns=None, row_cap=..., seed=...) -> WindowFrame``
and ``check()`` (a connectivity probe). Audit-log sources for incremental
security scans are in ``slack_alerts.sources.audit``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from slack_alerts.sources.base import (
    DEFAULT_ROW_CAP,
    DEFAULT_SEED,
    SourceError,
    WindowFrame,
    bottom_k,
    sample_stream,
)
from slack_alerts.sources.files import FileSource
from slack_alerts.sources.sql import SqlSource

Source = Annotated[SqlSource | FileSource, Field(discriminator="kind")]

__all__ = [
    "DEFAULT_ROW_CAP",
    "DEFAULT_SEED",
    "FileSource",
    "Source",
    "SourceError",
    "SqlSource",
    "WindowFrame",
    "bottom_k",
    "sample_stream",
]
