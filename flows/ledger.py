"""Suppressed-alert counts shared by every worker, kept on the Prefect server.

Same contract as the core's ``SuppressionLedger``: an alert held back by the
rate limit is counted and reported in the model's next message.

Each suppression is its own Prefect Variable (a create never conflicts).
Taking the count lists the model's variables and deletes them one by one;
only the worker whose delete succeeded counts that entry. Two workers can
therefore never lose a count or report it twice, with no locks.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import VariableCreate
from prefect.exceptions import ObjectNotFound

from slack_alerts import SuppressedSummary

_PREFIX = "slack_alerts_suppressed"
_PAGE = 200


def _model_prefix(model_id: str) -> str:
    # Variable names allow only lowercase letters, digits, - and _.
    return f"{_PREFIX}_{hashlib.sha256(model_id.encode('utf-8')).hexdigest()[:20]}_"


class ServerSuppressionLedger:
    """``add`` / ``take`` / ``restore`` / ``pending`` backed by Prefect Variables."""

    def add(self, model_id: str, when: datetime | None = None, count: int = 1) -> None:
        when = when or datetime.now(UTC)
        name = _model_prefix(model_id) + uuid.uuid4().hex[:16]
        value = {"count": count, "since": when.astimezone(UTC).isoformat()}
        with get_client(sync_client=True) as client:
            client.create_variable(VariableCreate(name=name, value=value, tags=[_PREFIX]))

    def _entries(self, client: Any, model_id: str) -> list[Any]:
        prefix = _model_prefix(model_id)
        response = client.request(
            "POST",
            "/variables/filter",
            json={"variables": {"name": {"like_": prefix}}, "limit": _PAGE},
        )
        return [v for v in response.json() if v["name"].startswith(prefix)]

    def take(self, model_id: str) -> SuppressedSummary | None:
        """Claim and remove every pending entry for the model."""
        count, since = 0, None
        with get_client(sync_client=True) as client:
            while True:
                entries = self._entries(client, model_id)
                if not entries:
                    break
                for entry in entries:
                    try:
                        client.delete_variable_by_name(entry["name"])
                    except ObjectNotFound:
                        continue  # another worker claimed it
                    value = entry["value"]
                    count += int(value["count"])
                    when = datetime.fromisoformat(value["since"])
                    since = when if since is None else min(since, when)
                if len(entries) < _PAGE:
                    break
        if count == 0 or since is None:
            return None
        return SuppressedSummary(count=count, since=since)

    def restore(self, model_id: str, summary: SuppressedSummary) -> None:
        self.add(model_id, summary.since, summary.count)

    def pending(self, model_id: str) -> int:
        with get_client(sync_client=True) as client:
            return sum(int(e["value"]["count"]) for e in self._entries(client, model_id))
