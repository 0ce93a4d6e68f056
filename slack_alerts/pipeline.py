"""One pipeline for every alert, in Alertmanager's order and vocabulary.

    intake → route → group → dedup → gate → notify → record

=========  ====================================================================
intake     the alerts go to the durable outbox *first*, before any control-plane
           call or post, so a crash or an outage anywhere later loses nothing
route      each alert on its own to a receiver (``Router``)
group      per (receiver, model): one message per group, worst alert first
dedup      under the group's lock, ``plan`` against the receiver's notification
           log: repeat interval, same-batch duplicates, resolved notices
gate       one rate slot per message (CRITICAL and ``bypass_rate_limit`` skip
           it); a message held back is counted into the group's next message
notify     post; a refused message moves to the dead letters, a failed one
           stays in the outbox with its reason
record     save the log (last sent, counts); a failure here never turns a
           delivered message into a resend or a "failed" report
=========  ====================================================================

The differences between running embedded and running in Prefect are the
strategies passed in: the ``StateStore`` (memory, SQLite, the Prefect server),
the ``Gate`` (in-process limits, or limits on the Prefect server), the
``DurableOutbox`` and a ``PipelineObserver`` (logs, Prefect events).

The control plane fails **open**: when the state or the limits cannot be
reached, the alert is sent anyway (a possible duplicate, never a loss), and
the outcome says so in ``notes``. A group whose lock stays taken by another
run past ``lock_wait_seconds`` keeps its alerts in the outbox for replay.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_alerts import messaging
from slack_alerts.delivery import DeliveryResult, DeliveryStatus, MessageMeta
from slack_alerts.formatting import (
    ResolvedNotice,
    SuppressedSummary,
    alert_title,
    format_digest,
)
from slack_alerts.gate import Admission, Gate, InProcessGate
from slack_alerts.models import Alert, SeverityLevel, alert_from_record, alert_to_record
from slack_alerts.outbox import DurableOutbox, OutboxRecord, OutboxUnavailable, record_id
from slack_alerts.outcomes import (
    AlertOutcome,
    AlertStatus,
    LoggingObserver,
    PipelineObserver,
    PipelineOutcome,
    outcome_of,
    safe_text,
)
from slack_alerts.routing import Receiver, Router, StaticRouter
from slack_alerts.silences import Silence, SilenceStore, silencing
from slack_alerts.state import (
    LockTimeout,
    NotificationLog,
    StateSession,
    StateStore,
    plan,
)
from slack_alerts.text import escape_mrkdwn, untrusted_text

__all__ = [
    "AlertOutcome",
    "AlertPipeline",
    "AlertStatus",
    "HealthyRef",
    "LoggingObserver",
    "PipelineObserver",
    "PipelineOutcome",
    "outcome_of",
]

DEFAULT_LOCK_WAIT_SECONDS = 120.0
# A stored log written by a clock this far ahead of ours means skewed workers.
CLOCK_SKEW_WARNING = timedelta(minutes=5)


@dataclass
class _Group:
    receiver: Receiver
    model_id: str
    alerts: list[Alert] = field(default_factory=list)
    healthy: list[str] = field(default_factory=list)
    pending_resolved: list[ResolvedNotice] = field(default_factory=list)


@dataclass
class _GroupResult:
    outcome: PipelineOutcome = field(default_factory=PipelineOutcome)
    unsent_resolved: list[ResolvedNotice] = field(default_factory=list)
    failed_receiver: bool = False


class _DetachedSession:
    """Used when the store cannot be reached: an empty log, nothing saved."""

    def __init__(self, receiver: str, model_id: str) -> None:
        self.receiver, self.model_id = receiver, model_id

    def load(self) -> NotificationLog:
        return NotificationLog(self.receiver, self.model_id)

    def save(self, log: NotificationLog) -> None:
        raise RuntimeError("state store unreachable; the log was not saved")

    def close(self) -> None:
        return None


def _close(session: StateSession, notes: list[str]) -> None:
    """Release a group's lock; a release that fails is a note (the lease expires), never
    an exception that would turn the group's delivered alerts into failures."""
    try:
        session.close()
    except Exception as exc:
        notes.append(f"state lock release failed ({_reason(exc)}); it will expire")


def _reason(exc: BaseException) -> str:
    return (
        f"{type(exc).__name__}: {untrusted_text(str(exc), 200)}" if str(exc) else type(exc).__name__
    )


HealthyRef = Mapping[str, Iterable[str]] | Iterable[str]


class AlertPipeline:
    """intake → route → group → dedup → gate → notify → record (see the module docstring).

    ``router`` is a ``Router``, a single ``Receiver``, or a ``SlackAlertClient``
    (whose receiver, gate and outbox are then used). It may be None until
    the destination is known: ``intake`` and ``keep`` work without it, so a
    caller can make alerts durable before resolving where they go. ``route``
    is how the outbox finds the destination again on replay (never a
    secret); the flows set it to the block's name.
    """

    def __init__(
        self,
        router: Router | Receiver | Any | None,
        store: StateStore | None = None,
        *,
        gate: Gate | None = None,
        outbox: DurableOutbox | None = None,
        observer: PipelineObserver | None = None,
        silences: SilenceStore | None = None,
        route: Mapping[str, str] | None = None,
        lock_wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if hasattr(router, "receiver") and hasattr(router, "gate"):
            # A SlackAlertClient: its destination, limits and outbox.
            client: Any = router
            router = StaticRouter(client.receiver)
            gate = gate or client.gate
            outbox = outbox if outbox is not None else client.durable_outbox
        if isinstance(router, Receiver):
            router = StaticRouter(router)
        if store is None:
            from slack_alerts.sqlstate import SqliteStateStore

            store = SqliteStateStore()
        self._router: Router | None = router
        self.store: StateStore = store
        self.gate: Gate = gate or InProcessGate()
        self.outbox = outbox
        self.observer: PipelineObserver = observer or LoggingObserver()
        self.silences = silences
        self.route = dict(route or {})
        self.lock_wait_seconds = lock_wait_seconds
        self.clock = clock

    @property
    def router(self) -> Router:
        if self._router is None:
            raise RuntimeError("AlertPipeline has no router yet: set pipeline.router first")
        return self._router

    @router.setter
    def router(self, router: Router | Receiver) -> None:
        self._router = StaticRouter(router) if isinstance(router, Receiver) else router

    # -- intake -------------------------------------------------------------
    def intake(self, alerts: Iterable[Alert]) -> dict[str, OutboxRecord | None]:
        """Write each model's alerts to the durable outbox; one record per model.

        Returns the records by model id (None where the outbox could not be
        written: the alerts still go out, and a warning names the folder).
        """
        if self.outbox is None:
            return {}
        by_model: dict[str, list[Alert]] = defaultdict(list)
        for alert in alerts:
            by_model[alert.model_id].append(alert)
        records: dict[str, OutboxRecord | None] = {}
        for model_id, batch in by_model.items():
            records[model_id] = self._put(
                OutboxRecord(
                    id=record_id(
                        model_id,
                        [f"{a.fingerprint}@{a.timestamp.isoformat()}" for a in batch]
                        + [f"{k}={v}" for k, v in sorted(self.route.items())],
                    ),
                    model_id=model_id,
                    route=self.route,
                    alerts=[alert_to_record(a) for a in batch],
                ),
                notes=None,
            )
        return records

    def _put(self, record: OutboxRecord, notes: list[str] | None) -> OutboxRecord | None:
        if self.outbox is None:
            return None
        try:
            return self.outbox.put(record)
        except OutboxUnavailable as exc:
            message = (
                f"ALERTS NOT DURABLE: {exc}. They are still sent, but an outage or a crash "
                "now would lose them; make the folder writable (SLACK_ALERTS_UNDELIVERED)."
            )
            self.observer.on_note(message)
            if notes is not None:
                notes.append(message)
            return None

    # -- the whole pipeline ---------------------------------------------------
    def submit(
        self,
        alerts: Iterable[Alert],
        healthy: HealthyRef = (),
        *,
        now: datetime | None = None,
        models: Iterable[str] = (),
        dedup: bool = True,
        bypass_rate_limit: bool = False,
    ) -> PipelineOutcome:
        """Deliver ``alerts`` and resolve ``healthy`` fingerprints; never raises on delivery.

        ``healthy`` maps model ids to fingerprints checked and found fine (or
        is a flat list, checked for every model of the batch and of
        ``models``). ``dedup=False`` sends every alert (same-batch duplicates
        aside) and keeps no fingerprint state: the per-alert send path.
        """
        batch = list(alerts)
        records = self.intake(batch)
        return self.process(
            batch,
            healthy,
            records=records,
            now=now,
            models=models,
            dedup=dedup,
            bypass_rate_limit=bypass_rate_limit,
        )

    def process(
        self,
        alerts: Iterable[Alert],
        healthy: HealthyRef = (),
        *,
        records: Mapping[str, OutboxRecord | None] | None = None,
        now: datetime | None = None,
        models: Iterable[str] = (),
        dedup: bool = True,
        bypass_rate_limit: bool = False,
        pending_resolved: Mapping[str, list[tuple[str, ResolvedNotice]]] | None = None,
        skip_receivers: set[str] | None = None,
    ) -> PipelineOutcome:
        """Everything after intake, for alerts already in ``records`` (by model)."""
        batch = list(alerts)
        outcome = PipelineOutcome()
        records = dict(records or {})
        groups = self._groups(batch, healthy, models, pending_resolved or {})
        silences = self._silences(outcome.notes) if batch else []
        unsent_resolved: dict[str, list[tuple[str, ResolvedNotice]]] = defaultdict(list)
        for group in groups:
            if skip_receivers is not None and group.receiver.key in skip_receivers:
                result = _GroupResult()
                for alert in group.alerts:
                    self._record_outcome(
                        result.outcome,
                        alert,
                        AlertStatus.KEPT,
                        group.receiver,
                        error="destination_failing",
                        detail="not retried: this destination failed earlier in the replay",
                    )
                result.unsent_resolved = group.pending_resolved
            else:
                result = self._notify_group(group, now, dedup, bypass_rate_limit, silences)
            if result.failed_receiver and skip_receivers is not None:
                skip_receivers.add(group.receiver.key)
            outcome.merge(result.outcome)
            unsent_resolved[group.model_id] += [
                (group.receiver.key, n) for n in result.unsent_resolved
            ]
        self._finalize(batch, outcome, records, unsent_resolved)
        return outcome

    def keep(
        self,
        alerts: Iterable[Alert],
        records: Mapping[str, OutboxRecord | None],
        *,
        error: str,
        detail: str,
    ) -> PipelineOutcome:
        """Account for alerts that cannot be attempted now (a destination that
        cannot be found, say): they stay in the outbox with the reason."""
        outcome = PipelineOutcome()
        batch = list(alerts)
        for alert in batch:
            self._record_outcome(outcome, alert, AlertStatus.KEPT, None, error=error, detail=detail)
        self._finalize(batch, outcome, dict(records), {})
        return outcome

    # -- route and group ------------------------------------------------------
    def _groups(
        self,
        batch: list[Alert],
        healthy: HealthyRef,
        models: Iterable[str],
        pending_resolved: Mapping[str, list[tuple[str, ResolvedNotice]]],
    ) -> list[_Group]:
        groups: dict[tuple[str, str], _Group] = {}

        def group(receiver: Receiver, model_id: str) -> _Group:
            key = (receiver.key, model_id)
            if key not in groups:
                groups[key] = _Group(receiver, model_id)
            return groups[key]

        for alert in batch:
            group(self.router.route(alert), alert.model_id).alerts.append(alert)
        all_models = list(dict.fromkeys([a.model_id for a in batch] + list(models)))
        if isinstance(healthy, Mapping):
            healthy_by_model = {m: list(fps) for m, fps in healthy.items()}
        else:
            flat = list(healthy)
            healthy_by_model = {m: flat for m in all_models} if flat else {}
        receivers = list(self.router.receivers())
        for model_id, fingerprints in healthy_by_model.items():
            if fingerprints:
                for receiver in receivers:
                    group(receiver, model_id).healthy += fingerprints
        by_key = {r.key: r for r in receivers}
        for model_id, notices in pending_resolved.items():
            for key, notice in notices:
                receiver = by_key.get(key, receivers[0])
                group(receiver, model_id).pending_resolved.append(notice)
        return list(groups.values())

    # -- dedup, gate, notify, record for one group ----------------------------------
    def _open(self, group: _Group, notes: list[str]) -> StateSession | None:
        try:
            return self.store.open(
                group.receiver.key, group.model_id, wait_seconds=self.lock_wait_seconds
            )
        except LockTimeout:
            return None
        except Exception as exc:  # fail open: send without the shared state
            notes.append(
                f"state store unreachable for model {safe_text(group.model_id)} at "
                f"{group.receiver.name} ({_reason(exc)}); sending without dedup"
            )
            return _DetachedSession(group.receiver.key, group.model_id)

    def _silences(self, notes: list[str]) -> list[Silence]:
        if self.silences is None:
            return []
        try:
            return self.silences.all()
        except Exception as exc:  # fail open: alerts go out rather than vanish
            notes.append(f"silences unreadable ({_reason(exc)}); nothing was silenced")
            return []

    def _notify_group(
        self,
        group: _Group,
        now: datetime | None,
        dedup: bool,
        bypass_rate_limit: bool,
        silences: Sequence[Silence] = (),
    ) -> _GroupResult:
        result = _GroupResult()
        out = result.outcome
        receiver = group.receiver
        session = self._open(group, out.notes)
        if session is None:
            for alert in group.alerts:
                self._record_outcome(
                    out,
                    alert,
                    AlertStatus.KEPT,
                    receiver,
                    error="locked",
                    detail=(
                        f"another run held this model's state for over "
                        f"{self.lock_wait_seconds:g}s; kept for the next run or replay"
                    ),
                )
            result.unsent_resolved = group.pending_resolved
            return result
        try:
            try:
                log = session.load()
            except Exception as exc:  # fail open
                out.notes.append(
                    f"state of model {safe_text(group.model_id)} at {receiver.name} unreadable "
                    f"({_reason(exc)}); sending without dedup"
                )
                _close(session, out.notes)
                session = _DetachedSession(receiver.key, group.model_id)
                log = session.load()
            # Read the clock inside the lock: the previous holder's writes are older.
            clock = now or self.clock()
            if log.updated_at is not None and log.updated_at - clock > CLOCK_SKEW_WARNING:
                out.notes.append(
                    f"clock skew: the state of model {safe_text(group.model_id)} was written "
                    f"{(log.updated_at - clock).total_seconds():.0f}s in this machine's future; "
                    "alerts may be re-sent until the clocks agree (sync them with NTP)"
                )
            alerts = self._silence(group, log, silences, clock, out)
            repeat = receiver.settings.repeat_interval if dedup else timedelta(0)
            decision = plan(alerts, log.states if dedup else {}, clock, repeat, group.healthy)
            for alert in decision.deduplicated:
                self._record_outcome(out, alert, AlertStatus.DEDUPLICATED, receiver)
            states = dict(decision.states)
            held_back: list[Alert] = []
            if decision.to_send:
                held_back = self._gate_and_notify(
                    group,
                    decision.to_send,
                    decision.deduplicated,
                    log,
                    states,
                    clock,
                    bypass_rate_limit,
                    out,
                )
                if any(o.status is AlertStatus.FAILED_TRANSIENT for o in out.alerts):
                    result.failed_receiver = True
            notices = decision.resolved if receiver.settings.send_resolved else []
            notices = [*group.pending_resolved, *notices]
            if notices:
                still_firing = any(v.firing for v in states.values())
                sent = self._notify_resolved(receiver, log, notices, still_firing, clock, out)
                if not sent:
                    result.unsent_resolved = notices
                    result.failed_receiver = True
                out.resolved += len(decision.resolved)
            if dedup:
                log.states = {k: v for k, v in states.items() if v.firing}
            try:
                session.save(log)
            except Exception as exc:
                out.notes.append(
                    f"state of model {safe_text(group.model_id)} at {receiver.name} not saved "
                    f"({_reason(exc)}); delivered alerts may be re-sent next run"
                )
                # Their count lived in the unsaved log: keep them instead.
                for alert in held_back:
                    self._replace_status(
                        out,
                        alert,
                        AlertStatus.KEPT,
                        error="state_not_saved",
                        detail="held back by the rate limit, and the count could not be saved",
                    )
        finally:
            _close(session, out.notes)
        return result

    def _silence(
        self,
        group: _Group,
        log: NotificationLog,
        silences: Sequence[Silence],
        now: datetime,
        out: PipelineOutcome,
    ) -> list[Alert]:
        """Record the group's silenced alerts (counted in its log); return the others."""
        loud = []
        ends: list[datetime] = []
        for alert in group.alerts:
            silence = silencing(silences, alert, now)
            if silence is None:
                loud.append(alert)
                continue
            ends.append(silence.ends_at)
            self._record_outcome(
                out,
                alert,
                AlertStatus.SILENCED,
                group.receiver,
                detail=f"silenced: {safe_text(silence.describe())}",
            )
        if ends:
            log.add_silenced(len(ends), now, max(ends))
        return loud

    def _gate_and_notify(
        self,
        group: _Group,
        to_send: list[Alert],
        current: list[Alert],
        log: NotificationLog,
        states: dict[str, Any],
        now: datetime,
        bypass_rate_limit: bool,
        out: PipelineOutcome,
    ) -> list[Alert]:
        """Gate, then post one message for ``to_send``; returns the alerts held back."""
        receiver = group.receiver
        bypass = bypass_rate_limit or any(a.severity is SeverityLevel.CRITICAL for a in to_send)
        admission = Admission(True) if bypass else self._admit(receiver, group.model_id, out)
        if not admission.admitted:
            pending = log.add_suppressed(len(to_send), now)
            held = DeliveryResult(
                status=DeliveryStatus.RATE_LIMITED,
                retry_after_seconds=admission.retry_after_seconds,
                destination=receiver.notifier.destination,
                detail=f"{pending.count} alerts for this model are waiting for the next message",
            )
            for alert in to_send:
                self._record_outcome(out, alert, AlertStatus.RATE_LIMITED, receiver, result=held)
            return to_send
        summary: SuppressedSummary | None = log.suppressed
        # Said in the group's next message: an alert got through, so the silence
        # ended or never covered it; either way people should know what was muted.
        silenced = log.silenced
        extra = [f":zipper_mouth_face: {silenced.sentence()}"] if silenced else []
        # An updated message keeps saying who acknowledged what still fires.
        acked = sorted({s.acked_by for s in states.values() if s.firing and s.acked_by})
        if acked:
            extra.append(f":eyes: Acknowledged by {safe_text(', '.join(acked), 200)}")
        # An updated message shows everything the group raised this run; a new one, what is new.
        shown = to_send
        if log.message is not None and messaging.editor_of(receiver) is not None:
            shown = list({a.fingerprint: a for a in [*to_send, *current]}.values())
            # What earlier runs (or other workers) raised and still fires: named,
            # so an update never hides it.
            seen = {a.fingerprint for a in shown}
            earlier = [s for fp, s in states.items() if s.firing and fp not in seen]
            if earlier:
                titles = ", ".join(
                    f"`{escape_mrkdwn(safe_text(s.title, 60))}`" for s in earlier[:10]
                )
                more = f" and {len(earlier) - 10} more" if len(earlier) > 10 else ""
                extra.append(f"Also firing since earlier: {titles}{more}")
        lead = max(to_send, key=lambda a: a.severity.rank)
        meta = MessageMeta(
            kind=lead.kind,
            severity=lead.severity.value,
            model_id=safe_text(group.model_id),
            fingerprint=lead.fingerprint,
            alerts=len(to_send),
            receiver=receiver.name,
            by_severity=dict(Counter(a.severity.value for a in to_send)),
        )
        try:
            payload = format_digest(
                shown, receiver.options, suppressed=summary, extra_context=extra
            )
        except Exception as exc:  # a formatter bug must not crash the caller
            result = DeliveryResult(
                status=DeliveryStatus.FAILED_PERMANENT,
                error="format_error",
                detail=f"{type(exc).__name__} while formatting the message",
                fingerprint=lead.fingerprint,
                destination=receiver.notifier.destination,
            )
        else:
            titles = ", ".join(safe_text(alert_title(a), 60) for a in to_send[:5])
            more = f" and {len(to_send) - 5} more" if len(to_send) > 5 else ""
            change = f"{len(to_send)} new or repeating alert(s): {titles}{more}"
            result = messaging.notify(receiver, log, payload, meta, change, now, out.notes)
        out.messages.append(result)
        if result.ok:
            log.suppressed = None
            if silenced:
                log.silenced = None
            for alert in to_send:
                states[alert.fingerprint] = replace(states[alert.fingerprint], last_sent=now)
                self._record_outcome(out, alert, AlertStatus.SENT, receiver, result=result)
            return []
        status = AlertStatus.FAILED_PERMANENT if result.permanent else AlertStatus.FAILED_TRANSIENT
        for alert in to_send:
            self._record_outcome(
                out,
                alert,
                status,
                receiver,
                error=result.error,
                detail=result.detail,
                result=result,
            )
        return []

    def _admit(self, receiver: Receiver, model_id: str, out: PipelineOutcome) -> Admission:
        try:
            admission = self.gate.admit(receiver, model_id)
        except Exception as exc:  # fail open: a possible extra message, never a lost one
            admission = Admission(True, note=f"rate limit unreachable ({_reason(exc)})")
        if admission.note:
            out.notes.append(
                f"model {safe_text(model_id)} at {receiver.name}: {admission.note}; sent without "
                "the rate limit"
            )
        return admission

    def _notify_resolved(
        self,
        receiver: Receiver,
        log: NotificationLog,
        notices: list[ResolvedNotice],
        still_firing: bool,
        now: datetime,
        out: PipelineOutcome,
    ) -> bool:
        meta = MessageMeta(
            kind="resolved",
            severity=SeverityLevel.INFO.value,
            model_id=safe_text(log.model_id),
            alerts=len(notices),
            receiver=receiver.name,
        )
        result = messaging.resolve(
            receiver, log, notices, still_firing, log.model_id, meta, now, out.notes
        )
        out.messages.append(result)
        if not result.ok:
            out.notes.append(
                f"resolved notice for model {safe_text(log.model_id)} at {receiver.name} not "
                f"delivered ({result.error}); kept for replay"
            )
        return result.ok

    # -- outcomes and the outbox --------------------------------------------------
    def _record_outcome(
        self,
        out: PipelineOutcome,
        alert: Alert,
        status: AlertStatus,
        receiver: Receiver | None,
        *,
        error: str | None = None,
        detail: str = "",
        result: DeliveryResult | None = None,
    ) -> None:
        outcome = outcome_of(
            alert, status, receiver.name if receiver else "", error=error, detail=detail
        )
        out.alerts.append(outcome)
        if result is not None:
            out.results[alert.fingerprint] = result

    def _replace_status(
        self, out: PipelineOutcome, alert: Alert, status: AlertStatus, *, error: str, detail: str
    ) -> None:
        for index, existing in enumerate(out.alerts):
            if existing.fingerprint == alert.fingerprint:
                out.alerts[index] = replace(existing, status=status, error=error, detail=detail)

    def _finalize(
        self,
        batch: list[Alert],
        outcome: PipelineOutcome,
        records: dict[str, OutboxRecord | None],
        unsent_resolved: Mapping[str, list[tuple[str, ResolvedNotice]]],
    ) -> None:
        """Rewrite each model's record to what is still unaccounted for, or remove it."""
        status_of: dict[str, AlertOutcome] = {o.fingerprint: o for o in outcome.alerts}
        by_model: dict[str, list[Alert]] = defaultdict(list)
        for alert in batch:
            by_model[alert.model_id].append(alert)
        for model_id in set(by_model) | set(unsent_resolved) | set(records):
            record = records.get(model_id)
            model_alerts = by_model.get(model_id, [])
            left = [
                a
                for a in model_alerts
                if (o := status_of.get(a.fingerprint)) is not None
                and o.status in (AlertStatus.FAILED_TRANSIENT, AlertStatus.KEPT)
            ]
            dead = [
                a
                for a in model_alerts
                if (o := status_of.get(a.fingerprint)) is not None
                and o.status is AlertStatus.FAILED_PERMANENT
            ]
            notices = list(unsent_resolved.get(model_id, []))
            if self.outbox is not None and (record is not None or left or dead or notices):
                base = record or OutboxRecord(
                    id=record_id(model_id, [f"{a.fingerprint}@{a.timestamp}" for a in left]),
                    model_id=model_id,
                    route=self.route,
                )
                now = datetime.now(UTC)
                first = status_of.get(left[0].fingerprint) if left else None
                if dead:
                    reason = status_of[dead[0].fingerprint]
                    try:
                        buried = self.outbox.bury(
                            replace(
                                base,
                                alerts=[alert_to_record(a) for a in dead],
                                resolved=[],
                                reason=f"refused: {reason.error}",
                                error=reason.detail or reason.error,
                                attempts=base.attempts + 1,
                                updated=now,
                                path=None,
                            )
                        )
                        self._set_location(outcome, dead, buried)
                    except OutboxUnavailable as exc:
                        self.observer.on_note(f"dead letter not written: {exc}")
                if left or notices:
                    kept = self._put(
                        replace(
                            base,
                            alerts=[alert_to_record(a) for a in left],
                            resolved=[
                                {"receiver": key, **notice.__dict__} for key, notice in notices
                            ],
                            reason=(first.status.value if first else "resolved notice unsent"),
                            error=(first.detail or first.error) if first else None,
                            attempts=base.attempts + 1,
                            updated=now,
                        ),
                        outcome.notes,
                    )
                    if kept is not None:
                        self._set_location(outcome, left, kept)
                elif record is not None:
                    self.outbox.remove(record)
        final = {o.fingerprint: o for o in outcome.alerts}
        for alert in batch:
            found = final.get(alert.fingerprint)
            if found is not None:
                self.observer.on_alert(alert, found)
        for note in outcome.notes:
            self.observer.on_note(note)

    def _set_location(
        self, outcome: PipelineOutcome, alerts: list[Alert], record: OutboxRecord
    ) -> None:
        wanted = {a.fingerprint for a in alerts}
        where = str(record.path) if record.path else None
        outcome.alerts = [
            replace(o, location=where) if o.fingerprint in wanted else o for o in outcome.alerts
        ]
        for fingerprint in wanted:
            result = outcome.results.get(fingerprint)
            if result is not None:
                outcome.results[fingerprint] = replace(result, location=where)

    # -- replay ---------------------------------------------------------------------
    def replay(self, records: Sequence[OutboxRecord] | None = None) -> PipelineOutcome:
        """Deliver what the outbox keeps, oldest first, through the whole pipeline.

        Dedup applies (an alert a later run already sent is not sent again).
        A refused message moves to the dead letters and replay goes on past
        it; a destination that fails transiently is not retried again in this
        replay, and its records stay.
        """
        outcome = PipelineOutcome()
        if self.outbox is None:
            return outcome
        failing: set[str] = set()
        for record in records if records is not None else self.outbox.pending():
            if record.payload is not None:
                outcome.merge(self._replay_payload(record, failing))
                continue
            alerts = []
            for data in record.alerts:
                try:
                    alerts.append(alert_from_record(data))
                except ValueError as exc:
                    outcome.notes.append(f"{record.path}: unreadable alert ({_reason(exc)})")
            pending: dict[str, list[tuple[str, ResolvedNotice]]] = defaultdict(list)
            for notice in record.resolved:
                data = dict(notice)
                key = str(data.pop("receiver", ""))
                try:
                    pending[record.model_id].append((key, ResolvedNotice(**data)))
                except TypeError:
                    outcome.notes.append(f"{record.path}: unreadable resolved notice")
            outcome.merge(
                self.process(
                    alerts,
                    records={record.model_id: record},
                    pending_resolved=pending,
                    skip_receivers=failing,
                )
            )
        return outcome

    def _replay_payload(self, record: OutboxRecord, failing: set[str]) -> PipelineOutcome:
        outcome = PipelineOutcome()
        receiver = self.router.receivers()[0]
        if receiver.key in failing:
            return outcome
        meta = MessageMeta(
            kind=str(record.meta.get("kind", "message")),
            severity=str(record.meta.get("severity", "info")),
            model_id=record.model_id,
            fingerprint=str(record.meta.get("fingerprint", "")),
            receiver=receiver.name,
        )
        assert record.payload is not None
        result = messaging.post(receiver.notifier, record.payload, meta)
        outcome.messages.append(result)
        if self.outbox is None:
            return outcome
        if result.ok:
            self.outbox.remove(record)
        elif result.permanent:
            self.outbox.bury(
                replace(record, reason=f"refused: {result.error}", error=result.detail)
            )
        else:
            failing.add(receiver.key)
            self._put(
                replace(record, attempts=record.attempts + 1, error=result.detail or result.error),
                outcome.notes,
            )
        return outcome
