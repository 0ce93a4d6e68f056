"""Security rules over a model service's audit log: pure, no I/O.

Each record is a dict with ``timestamp``, ``principal``, ``ip``,
``model_id``, ``action``, ``status`` and excerpts ``prompt`` / ``output``.
``scan_events`` turns records into ``SafetyEvent``s:

- ``auth_failure_burst``: at least N auth failures by one principal or IP
  within a sliding window. A record is an auth failure when its ``status``,
  compared case-blind with ``-`` and spaces read as ``_``, is one of
  ``AUTH_FAILURE_STATUSES``: ``401``, ``403``, ``fail``, ``failed``,
  ``failure``, ``auth_failed``/``auth_failure``, ``authentication_failed``,
  ``login_failed``, ``unauthorized``/``unauthorised``, ``unauthenticated``,
  ``forbidden``, ``denied``/``access_denied``, ``rejected``. A bare ``error``
  does not count: it is usually a server error, not a refused login;
- ``unauthorized_access``: a principal not on a model's allow-list;
- ``phi_in_output``: PHI/PII patterns in outputs (the kind and the log line
  are reported, never the matched value);
- ``prompt_injection``: injection markers in prompts;
- ``system_prompt_leak``: the system prompt echoed back in an output;
- ``request_rate_anomaly``: more requests by one principal within a window
  than allowed.

Every event carries ``metadata["incident_id"]``, a hash of the rule, its
subject and the incident's first timestamp, so re-scanning the same log
yields the same ids (and the same fingerprints): it does not page again.
Malformed records are counted and reported, never fatal; that includes a
timestamp that parses but lies outside the range UTC can represent
(``0001-01-01T00:00+05:00`` is in year 0 in UTC), which would otherwise
stop the whole scan.

Records are scanned whole, but only bounded excerpts of them are copied
into events (and from there into reports, artifacts and Slack):
identifiers (principal, IP, model id) are capped at
``MAX_IDENTIFIER_CHARS`` (256) characters by ``cap_identifier``, which
keeps distinct long values distinct with a hash; prompts and outputs are
never copied at all. A 50 MB ``principal`` costs a hash, not a 50 MB alert.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from slack_alerts.models import SafetyEvent, SeverityLevel
from slack_alerts.text import find_phi, valid_unicode_json

AUTH_FAILURE_STATUSES = frozenset(
    {
        "401",
        "403",
        "fail",
        "failed",
        "failure",
        "auth_failed",
        "auth_failure",
        "authentication_failed",
        "authentication_failure",
        "login_failed",
        "login_failure",
        "unauthorized",
        "unauthorised",
        "unauthenticated",
        "forbidden",
        "denied",
        "access_denied",
        "rejected",
    }
)
"""Statuses that count as an authentication failure, after ``normalize_status``."""


def normalize_status(value: Any) -> str:
    """A status compared case-blind, ``-``/space as ``_``: ``"Auth-Failed "`` is ``auth_failed``."""
    return re.sub(r"[\s-]+", "_", str(value or "").strip().lower())


DEFAULT_INJECTION_MARKERS = (
    r"ignore (?:all |any )?(?:the )?(?:previous|prior|above|earlier) "
    r"(?:instructions|prompts|rules)",
    r"disregard (?:all |any )?(?:the )?(?:previous|prior|above|your) (?:instructions|rules)",
    r"(?:reveal|print|show|repeat) (?:me )?(?:your|the) (?:system )?(?:prompt|instructions)",
    r"you are now (?:in )?(?:developer|dan|jailbreak|unrestricted) mode",
    r"pretend (?:that )?(?:you are|to be) (?:an? )?(?:unrestricted|unfiltered|evil)",
)
DEFAULT_SYSTEM_PROMPT_MARKERS = ("<<SYS>>", "system prompt:", "### system:")
MAX_LINES_LISTED = 10
MAX_IDENTIFIER_CHARS = 256
_KEPT_CHARS = 200  # of a capped identifier; the rest of the cap is its length and hash


def cap_identifier(value: str) -> str:
    """``value`` if at most ``MAX_IDENTIFIER_CHARS`` long, else its start, length and hash.

    ``"<first 200 chars>…[+N chars, sha256 0123456789ab]"``: at most 256
    characters, and two long values that differ anywhere stay different.
    """
    if len(value) <= MAX_IDENTIFIER_CHARS:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{value[:_KEPT_CHARS]}…[+{len(value) - _KEPT_CHARS} chars, sha256 {digest}]"


class SecurityRules(BaseModel):
    """Thresholds and lists for the security rules. All overridable."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    auth_failure_threshold: int = Field(default=5, ge=1, description="Failures that make a burst")
    auth_failure_critical: int = Field(
        default=20, ge=1, description="Failures that make it CRITICAL"
    )
    auth_window_seconds: float = Field(default=60.0, gt=0, description="Burst window")
    allow_list: dict[str, list[str]] = Field(
        default_factory=dict, description="model_id -> principals allowed to call it"
    )
    injection_markers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_INJECTION_MARKERS),
        description="Regular expressions (case-insensitive) that flag prompt injection",
    )
    system_prompt_markers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SYSTEM_PROMPT_MARKERS),
        description="Distinctive text of your system prompt; seen in an output means a leak",
    )
    max_requests_per_window: int = Field(default=120, ge=1, description="Requests per principal")
    rate_window_seconds: float = Field(default=60.0, gt=0, description="Request-rate window")
    scan_outputs_for_phi: bool = True


@dataclass(frozen=True)
class AuditRecord:
    line: int
    timestamp: datetime
    principal: str
    ip: str
    model_id: str
    action: str
    status: str
    prompt: str
    output: str


@dataclass(frozen=True)
class MalformedRecord:
    line: int
    reason: str


@dataclass
class ScanResult:
    events: list[SafetyEvent]
    records: int
    malformed: list[MalformedRecord] = field(default_factory=list)

    def by_rule(self) -> Counter[str]:
        return Counter(e.event_type for e in self.events)


class _OutOfRange(ValueError):
    """A timestamp that parses but has no UTC representation (year 0 or 10000 in UTC)."""


def _timestamp(value: Any) -> datetime:
    """An aware datetime; naive ones are UTC. Raises ValueError, or _OutOfRange."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a timestamp")
    if isinstance(value, datetime):
        stamp = value
    elif isinstance(value, int | float):
        try:
            stamp = datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError) as error:
            if isinstance(value, float) and value != value:
                raise ValueError("NaN is not a timestamp") from error
            raise _OutOfRange(str(value)) from error
    else:
        stamp = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        return stamp.replace(tzinfo=UTC)
    try:
        # Every later step (ordering, windows, incident ids) works in UTC.
        stamp.astimezone(UTC)
    except OverflowError as error:
        raise _OutOfRange(stamp.isoformat()) from error
    return stamp


def parse_record(raw: Any, line: int) -> AuditRecord | MalformedRecord:
    """One audit-log entry (a dict or a JSON line) as a record, or why not."""
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except ValueError:
            return MalformedRecord(line, "not valid JSON")
    if not isinstance(raw, Mapping):
        return MalformedRecord(line, "not a JSON object")
    # JSON may carry lone surrogates ("\ud800"); repaired, the line is still scanned.
    raw = valid_unicode_json(dict(raw))
    missing = [k for k in ("timestamp", "principal", "model_id") if not raw.get(k)]
    if missing:
        return MalformedRecord(line, f"missing {', '.join(missing)}")
    try:
        stamp = _timestamp(raw["timestamp"])
    except _OutOfRange:
        return MalformedRecord(line, "timestamp outside the range UTC can represent")
    except (TypeError, ValueError, OverflowError, OSError):
        return MalformedRecord(line, "unreadable timestamp")
    return AuditRecord(
        line=line,
        timestamp=stamp,
        principal=str(raw["principal"]),
        ip=str(raw.get("ip") or ""),
        model_id=str(raw["model_id"]),
        action=str(raw.get("action") or ""),
        status=normalize_status(raw.get("status")),
        prompt=str(raw.get("prompt") or ""),
        output=str(raw.get("output") or ""),
    )


def incident_id(rule: str, subject: str, first_seen: datetime) -> str:
    material = "\x1f".join((rule, subject, first_seen.astimezone(UTC).isoformat()))
    return "inc-" + hashlib.sha256(material.encode("utf-8")).hexdigest()[:12]


def _event(
    rule: str,
    subject: str,
    records: list[AuditRecord],
    severity: SeverityLevel,
    description: str,
    **metadata: Any,
) -> SafetyEvent:
    first = min(r.timestamp for r in records)
    last = max(r.timestamp for r in records)
    models = Counter(r.model_id for r in records)
    return SafetyEvent(
        event_type=rule,
        model_id=cap_identifier(models.most_common(1)[0][0]),
        description=description,
        severity=severity,
        timestamp=first,
        metadata={
            "incident_id": incident_id(rule, subject, first),
            "first_seen": first.isoformat(),
            "last_seen": last.isoformat(),
            "records": len(records),
            "log_lines": [r.line for r in records[:MAX_LINES_LISTED]],
            **metadata,
        },
    )


def _bursts(records: list[AuditRecord], window: float, threshold: int) -> list[list[AuditRecord]]:
    """Maximal clusters in which some window of ``window`` seconds holds >= threshold."""
    ordered = sorted(records, key=lambda r: r.timestamp)
    times = [r.timestamp.timestamp() for r in ordered]
    bursts: list[list[AuditRecord]] = []
    start = 0
    end = 0
    while start < len(ordered):
        end = max(end, start)
        while end + 1 < len(ordered) and times[end + 1] - times[start] <= window:
            end += 1
        if end - start + 1 >= threshold:
            # Extend while the next record still falls within a window of the last.
            stop = end
            while stop + 1 < len(ordered) and times[stop + 1] - times[stop] <= window:
                stop += 1
            bursts.append(ordered[start : stop + 1])
            start = stop + 1
        else:
            start += 1
    return bursts


def _auth_bursts(records: list[AuditRecord], rules: SecurityRules) -> list[SafetyEvent]:
    failures = [r for r in records if r.status in AUTH_FAILURE_STATUSES]
    events = []
    for key_name in ("principal", "ip"):
        grouped: dict[str, list[AuditRecord]] = defaultdict(list)
        for r in failures:
            key = getattr(r, key_name)
            if key:
                grouped[key].append(r)
        for key, group in sorted(grouped.items()):
            shown = cap_identifier(key)
            for burst in _bursts(group, rules.auth_window_seconds, rules.auth_failure_threshold):
                critical = len(burst) >= rules.auth_failure_critical
                events.append(
                    _event(
                        "auth_failure_burst",
                        f"{key_name}={key}",
                        burst,
                        SeverityLevel.CRITICAL if critical else SeverityLevel.WARNING,
                        f"{len(burst)} authentication failures from {key_name} {shown} within "
                        f"{rules.auth_window_seconds:.0f}s windows.",
                        **{key_name: shown, "failures": len(burst)},
                    )
                )
    return events


def _unauthorized(records: list[AuditRecord], rules: SecurityRules) -> list[SafetyEvent]:
    grouped: dict[tuple[str, str], list[AuditRecord]] = defaultdict(list)
    for r in records:
        allowed = rules.allow_list.get(r.model_id)
        if (
            allowed is not None
            and r.principal not in allowed
            and r.status not in AUTH_FAILURE_STATUSES
        ):
            grouped[(r.model_id, r.principal)].append(r)
    return [
        _event(
            "unauthorized_access",
            f"{model}:{principal}",
            group,
            SeverityLevel.CRITICAL,
            f"Principal {cap_identifier(principal)} called model {cap_identifier(model)} "
            f"without being on its allow-list ({len(group)} request(s)).",
            principal=cap_identifier(principal),
        )
        for (model, principal), group in sorted(grouped.items())
    ]


def _content_rules(records: list[AuditRecord], rules: SecurityRules) -> list[SafetyEvent]:
    injection = [re.compile(m, re.I) for m in rules.injection_markers]
    leak_markers = [m.lower() for m in rules.system_prompt_markers if m]
    phi: dict[tuple[str, str], list[tuple[AuditRecord, list[str]]]] = defaultdict(list)
    injected: dict[tuple[str, str], list[AuditRecord]] = defaultdict(list)
    leaked: dict[tuple[str, str], list[AuditRecord]] = defaultdict(list)
    for r in records:
        key = (r.model_id, r.principal)
        if rules.scan_outputs_for_phi and r.output:
            kinds = find_phi(r.output)
            if kinds:
                phi[key].append((r, kinds))
        if r.prompt and any(p.search(r.prompt) for p in injection):
            injected[key].append(r)
        lowered = r.output.lower()
        if lowered and any(m in lowered for m in leak_markers):
            leaked[key].append(r)
    events = []
    for (model, principal), hits in sorted(phi.items()):
        kinds = sorted({k for _, ks in hits for k in ks})
        shown = cap_identifier(principal)
        events.append(
            _event(
                "phi_in_output",
                f"{model}:{principal}",
                [r for r, _ in hits],
                SeverityLevel.CRITICAL,
                f"Model output contained {', '.join(kinds)} pattern(s) in {len(hits)} response(s) "
                f"to {shown}; see the log lines (values are not copied here).",
                principal=shown,
                phi_kinds=kinds,
            )
        )
    for (model, principal), group in sorted(injected.items()):
        shown = cap_identifier(principal)
        events.append(
            _event(
                "prompt_injection",
                f"{model}:{principal}",
                group,
                SeverityLevel.WARNING,
                f"{len(group)} prompt(s) from {shown} contained injection markers.",
                principal=shown,
            )
        )
    for (model, principal), group in sorted(leaked.items()):
        shown = cap_identifier(principal)
        events.append(
            _event(
                "system_prompt_leak",
                f"{model}:{principal}",
                group,
                SeverityLevel.CRITICAL,
                f"The system prompt was echoed back to {shown} in {len(group)} response(s).",
                principal=shown,
            )
        )
    return events


def _rate_anomalies(records: list[AuditRecord], rules: SecurityRules) -> list[SafetyEvent]:
    grouped: dict[str, list[AuditRecord]] = defaultdict(list)
    for r in records:
        grouped[r.principal].append(r)
    events = []
    for principal, group in sorted(grouped.items()):
        threshold = rules.max_requests_per_window + 1
        shown = cap_identifier(principal)
        for burst in _bursts(group, rules.rate_window_seconds, threshold):
            events.append(
                _event(
                    "request_rate_anomaly",
                    f"principal={principal}",
                    burst,
                    SeverityLevel.WARNING,
                    f"{shown} sent {len(burst)} requests in bursts above "
                    f"{rules.max_requests_per_window} per {rules.rate_window_seconds:.0f}s.",
                    principal=shown,
                )
            )
    return events


def scan(
    events: Iterable[Any], rules: SecurityRules | Mapping[str, Any] | None = None
) -> ScanResult:
    """Parse and scan audit records (dicts or JSON lines); count malformed ones."""
    config = SecurityRules.model_validate(rules or {})
    records: list[AuditRecord] = []
    malformed: list[MalformedRecord] = []
    for line, raw in enumerate(events, start=1):
        if isinstance(raw, str) and not raw.strip():
            continue
        parsed = parse_record(raw, line)
        (records if isinstance(parsed, AuditRecord) else malformed).append(parsed)  # type: ignore[arg-type]
    found = (
        _auth_bursts(records, config)
        + _unauthorized(records, config)
        + _content_rules(records, config)
        + _rate_anomalies(records, config)
    )
    found.sort(key=lambda e: (-e.severity.rank, e.timestamp, e.event_type))
    return ScanResult(events=found, records=len(records), malformed=malformed)


def scan_events(
    events: Iterable[Any], rules: SecurityRules | Mapping[str, Any] | None = None
) -> list[SafetyEvent]:
    """The SafetyEvents found in ``events`` (see ``scan`` for the full result)."""
    return scan(events, rules).events
