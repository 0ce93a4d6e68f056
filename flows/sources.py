"""The Prefect side of live sources: credentials from blocks, scheduled times, watermarks.

- ``resolve_source`` / ``resolve_config``: a source naming a
  ``prefect-sqlalchemy`` ``SqlAlchemyConnector`` block (``connector``) gets
  the block's URL, held as a ``SecretStr`` (never logged, never a flow
  parameter, never in Prefect state).
- ``scheduled_time``: the flow run's *scheduled* start
  (``prefect.runtime.flow_run.scheduled_start_time``), so a late, retried
  or backfilled run reads its own slot; outside a run, the time given or now.
- ``load_watermark`` / ``save_watermark``: the security scan's watermark, one
  Prefect Variable per audit source, on the server every worker shares.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, TypeVar

from prefect.variables import Variable
from pydantic import SecretStr

from slack_alerts.live import LiveModelConfig, OutcomesJoin
from slack_alerts.sources import SourceError, SqlSource
from slack_alerts.sources.audit import AuditFileSource, AuditSqlSource, AuditWatermark
from slack_alerts.windows import as_utc

__all__ = [
    "connector_url",
    "load_watermark",
    "resolve_config",
    "resolve_source",
    "save_watermark",
    "scheduled_time",
    "watermark_name",
]

S = TypeVar("S")
WATERMARK_PREFIX = "slack_alerts_watermark_"


def connector_url(block_name: str) -> SecretStr:
    """The SQLAlchemy URL held by a ``SqlAlchemyConnector`` block, as a secret.

    Raises:
        SourceError: no such block (naming ``connector``, never the URL).
    """
    from prefect_sqlalchemy import SqlAlchemyConnector

    try:
        block = SqlAlchemyConnector.load(block_name)
    except (ValueError, KeyError) as error:
        raise SourceError(
            f"connector: no SqlAlchemyConnector block named {block_name!r} on the Prefect "
            f"server ({type(error).__name__}); create one in the UI (Blocks -> + -> SQLAlchemy "
            "Connector) or with SqlAlchemyConnector(connection_info=...).save(name)"
        ) from None
    info: Any = block.connection_info
    if hasattr(info, "create_url"):
        rendered = info.create_url().render_as_string(hide_password=False)
    else:
        rendered = str(info.get_secret_value() if hasattr(info, "get_secret_value") else info)
    return SecretStr(rendered)


def resolve_source(source: S) -> S:
    """``source`` with a ``connector`` block's URL filled in (unchanged otherwise)."""
    if isinstance(source, SqlSource | AuditSqlSource) and source.connector is not None:
        resolved: Any = source.with_url(connector_url(source.connector))
        return resolved  # type: ignore[no-any-return]
    return source


def resolve_config(config: LiveModelConfig) -> LiveModelConfig:
    """A model's config with every source's credentials resolved."""
    update: dict[str, Any] = {"source": resolve_source(config.source)}
    if config.outcomes is not None:
        outcomes: OutcomesJoin = config.outcomes
        update["outcomes"] = outcomes.model_copy(update={"source": resolve_source(outcomes.source)})
    return config.model_copy(update=update)


def scheduled_time(explicit: datetime | None = None) -> datetime:
    """The time a run's current window ends at: ``explicit``, else the run's scheduled start.

    Outside a flow run (or for a run without a schedule), the expected start,
    else now, in UTC.
    """
    if explicit is not None:
        return as_utc(explicit)
    from prefect.runtime import flow_run

    scheduled = flow_run.scheduled_start_time
    if scheduled is not None:
        return as_utc(datetime.fromisoformat(str(scheduled.isoformat())))
    return datetime.now(UTC)


def watermark_name(source: AuditFileSource | AuditSqlSource) -> str:
    """The Variable's name for a source: a hash of its location (no path or URL in it)."""
    digest = hashlib.sha256(source.key.encode("utf-8")).hexdigest()[:16]
    return WATERMARK_PREFIX + digest


def load_watermark(source: AuditFileSource | AuditSqlSource) -> AuditWatermark | None:
    """The source's saved watermark, or None before its first accounted-for scan."""
    value = Variable.get(watermark_name(source), default=None)
    if value is None:
        return None
    return AuditWatermark.model_validate(value)


def save_watermark(source: AuditFileSource | AuditSqlSource, watermark: AuditWatermark) -> None:
    """Advance the source's watermark (call only once the run's alerts are accounted for)."""
    Variable.set(watermark_name(source), watermark.model_dump(mode="json"), overwrite=True)
