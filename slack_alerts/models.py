"""Alert value objects: what went wrong, for which model, and how badly.

Field names follow the reference design exactly (they are public API). The
models validate at construction, so bad input fails where it was written with
a ``pydantic.ValidationError`` naming the field, not later inside a sender.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    computed_field,
    field_validator,
    model_validator,
)

from slack_alerts.text import looks_like_secret, valid_unicode_json


class SeverityLevel(StrEnum):
    """How urgent an alert is. Parses case-insensitively: "Critical" works."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @classmethod
    def _missing_(cls, value: object) -> SeverityLevel | None:
        if isinstance(value, str):
            key = value.strip().lower()
            for member in cls:
                if member.value == key:
                    return member
        return None

    def to_color(self) -> str:
        """Slack attachment colour: green, orange, red."""
        return _COLORS[self]

    @property
    def rank(self) -> int:
        """Orders severities: INFO < WARNING < CRITICAL."""
        return _RANKS[self]

    @property
    def emoji(self) -> str:
        return _EMOJI[self]


_COLORS = {
    SeverityLevel.INFO: "#2EB67D",
    SeverityLevel.WARNING: "#F2A33A",
    SeverityLevel.CRITICAL: "#E01E5A",
}
_RANKS = {SeverityLevel.INFO: 0, SeverityLevel.WARNING: 1, SeverityLevel.CRITICAL: 2}
_EMOJI = {
    SeverityLevel.INFO: ":information_source:",
    SeverityLevel.WARNING: ":warning:",
    SeverityLevel.CRITICAL: ":rotating_light:",
}

AlertKind = Literal["drift", "compliance", "safety"]

# Identifiers name state, limits and files downstream, so they are bounded
# here, where a bad value can still be named: a 5,000-character model id would
# otherwise fail much later, after a message was already posted.
MAX_ID_LENGTH = 256
MAX_NAME_LENGTH = 512

Identifier = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ID_LENGTH)
]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME_LENGTH)
]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


def refuse_secret_id(value: str) -> str:
    """``value``, unless it is shaped like a secret (a token, a URL with a password).

    A model id names state, limits, task runs, logs and every message: a token
    pasted as an id would be shown everywhere. The error never repeats it.
    """
    if looks_like_secret(value):
        raise ValueError(
            "looks like a token or a URL with a password (not shown): a model id is shown in "
            "every message and log, so use a plain name such as sepsis-v4"
        )
    return value


# An alert's model id: an identifier that is never shaped like a secret.
ModelId = Annotated[Identifier, AfterValidator(refuse_secret_id)]


def _now() -> datetime:
    return datetime.now(UTC)


class _AlertBase(BaseModel):
    """Shared validation and identity for the three alert kinds."""

    # Errors never repeat the input: a model id may be a token pasted by mistake.
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, hide_input_in_errors=True
    )

    kind: ClassVar[AlertKind]
    # The fields, besides kind and model_id, that name *what* is wrong. They
    # make the fingerprint, so two alerts about the same problem dedup even
    # when their values and timestamps differ.
    _identity_fields: ClassVar[tuple[str, ...]]

    model_id: ModelId
    severity: SeverityLevel = SeverityLevel.WARNING
    timestamp: datetime = Field(default_factory=_now)

    @model_validator(mode="before")
    @classmethod
    def _drop_computed_fingerprint(cls, data: Any) -> Any:
        # model_dump() includes the computed fingerprint; accept it back so
        # dumps round-trip, but always recompute it from the identity.
        if isinstance(data, dict) and "fingerprint" in data:
            data = {k: v for k, v in data.items() if k != "fingerprint"}
        # Lone surrogates (from JSON "\ud800" escapes) cannot be encoded as
        # UTF-8: repaired here, every later step (hashes, files, Slack) works.
        return valid_unicode_json(data) if isinstance(data, dict) else data

    @field_validator("details", "metadata", mode="before", check_fields=False)
    @classmethod
    def _string_keys(cls, value: Any) -> Any:
        # Users pass {0: ...} or enum keys; JSON and Slack only know strings.
        if isinstance(value, dict):
            return {k if isinstance(k, str) else str(k): v for k, v in value.items()}
        return value

    @field_validator("timestamp", mode="after")
    @classmethod
    def _utc_timestamp(cls, value: datetime) -> datetime:
        # A naive timestamp is taken as UTC, the only zone that means the same
        # thing on every worker. Every later step (file names, state, messages)
        # works in UTC, so a time UTC cannot represent (0001-01-01T00:00+05:00)
        # is refused here, by name, instead of overflowing inside a send.
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError(
                "timestamp must be representable in UTC (0001-01-01 to 9999-12-31 UTC)"
            ) from None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fingerprint(self) -> str:
        """Stable 16-hex-digit identity of the problem (kind, model, what)."""
        parts = [self.kind, self.model_id, *(str(getattr(self, f)) for f in self._identity_fields)]
        digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
        return digest[:16]

    @property
    def title_subject(self) -> str:
        """The model as people call it, for headers."""
        return str(getattr(self, "model_name", None) or self.model_id)


class DriftAlert(_AlertBase):
    """A model metric or input distribution moved away from its baseline."""

    kind: ClassVar[AlertKind] = "drift"
    _identity_fields: ClassVar[tuple[str, ...]] = ("metric",)

    model_name: Name
    metric: Identifier
    current_value: FiniteFloat
    baseline_value: FiniteFloat
    threshold: FiniteFloat
    drift_percentage: FiniteFloat | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _fill_drift_percentage(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("drift_percentage") is not None:
            return data
        current, baseline = data.get("current_value"), data.get("baseline_value")
        try:
            current_f, baseline_f = float(current), float(baseline)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return data  # field validation reports the bad value by name
        if not (math.isfinite(current_f) and math.isfinite(baseline_f)) or baseline_f == 0:
            # Relative change from a zero baseline is undefined: leave it None
            # rather than invent an infinity that JSON cannot carry.
            return data
        percentage = (current_f - baseline_f) / abs(baseline_f) * 100.0
        if not math.isfinite(percentage):  # e.g. 1e308 against 1e-308
            return data
        return {**data, "drift_percentage": percentage}


class FAVESViolation(_AlertBase):
    """A Fair / Appropriate / Valid / Effective / Safe check failed."""

    kind: ClassVar[AlertKind] = "compliance"
    _identity_fields: ClassVar[tuple[str, ...]] = ("violation_type",)

    model_name: Name
    violation_type: Identifier
    description: str = ""
    affected_groups: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)


class SafetyEvent(_AlertBase):
    """A security or safety incident around a model service."""

    kind: ClassVar[AlertKind] = "safety"
    _identity_fields: ClassVar[tuple[str, ...]] = ("event_type", "incident_id")

    event_type: Identifier
    description: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def incident_id(self) -> str:
        """``metadata["incident_id"]`` when given: one incident, one page."""
        return str(self.metadata.get("incident_id", ""))


Alert = DriftAlert | FAVESViolation | SafetyEvent

# Free text that may carry PHI; identifiers (model_id, metric, incident_id...)
# are kept verbatim so that fingerprints and limits survive a round trip.
_FREE_TEXT_FIELDS = ("model_name", "description", "affected_groups", "details")


def alert_to_record(alert: Alert) -> dict[str, Any]:
    """A JSON-ready copy of ``alert`` for local storage, its free text PHI-redacted.

    ``alert_from_record`` rebuilds an alert with the same fingerprint.
    """
    from slack_alerts.text import redact_json

    data = alert.model_dump(mode="json")
    for name in _FREE_TEXT_FIELDS:
        if name in data:
            data[name] = redact_json(data[name])
    if "metadata" in data:
        data["metadata"] = {
            key: value if key == "incident_id" else redact_json(value)
            for key, value in data["metadata"].items()
        }
    return {"kind": alert.kind, **data}


def alert_from_record(record: dict[str, Any]) -> Alert:
    """The alert stored by ``alert_to_record``; raises ValueError for a bad record."""
    data = dict(record)
    kind = data.pop("kind", None)
    if kind == "drift":
        return DriftAlert.model_validate(data)
    if kind == "compliance":
        return FAVESViolation.model_validate(data)
    if kind == "safety":
        return SafetyEvent.model_validate(data)
    raise ValueError(f"unknown alert kind {kind!r}")
