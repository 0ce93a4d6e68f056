"""Table and markdown artifacts of the monitoring flows, with user text PHI-redacted."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pandas as pd
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from slack_alerts.text import redact_phi, single_line

_KEY_UNSAFE = re.compile(r"[^a-z0-9-]+")


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes."""
    key = _KEY_UNSAFE.sub("-", "-".join(parts).lower()).strip("-")
    return key[:100] or "report"


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact_phi(single_line(value))
    if isinstance(value, float):
        return None if value != value else round(value, 6)  # NaN is not JSON
    return value


def publish_table(key: str, frame: pd.DataFrame, description: str) -> None:
    """A table artifact; user text in it is PHI-redacted first."""
    rows = [
        {str(k): _clean(v) for k, v in row.items()}
        for row in frame.reset_index().to_dict(orient="records")
    ]
    create_table_artifact(key=key, table=rows, description=redact_phi(description))


def publish_summary(key: str, lines: Iterable[str], description: str) -> None:
    create_markdown_artifact(
        key=key, markdown=redact_phi("\n".join(lines)), description=redact_phi(description)
    )
