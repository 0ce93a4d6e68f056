"""A fleet of models from one YAML file: validated, merged, planned and sharded.

A fleet file has ``defaults``, named ``groups`` of overrides, and one entry
per model under ``models``::

    name: clinical
    defaults:
      route: ml-alerts                  # a saved Slack Alerts Webhook or Router block
      checks: {drift: "0 * * * *", performance: "0 6 * * *"}
      source: {kind: sql, url: "...", table: inference_log, timestamp_column: ts}
      thresholds: {psi_warning: 0.1}
    groups:
      icu: {route: icu-alerts, thresholds: {psi_warning: 0.2}}
    models:
      - {id: sepsis-v4, name: Sepsis early warning, group: icu, label_column: sepsis}

Every key of a model (and of ``defaults`` and a group) other than the fleet's
own (``id``, ``name``, ``group``, ``owner``, ``route``, ``checks``) is a field
of ``slack_alerts.live.LiveModelConfig``. A model's settings are the deep
merge defaults -> its group -> its own entry: mappings merge key by key,
anything else (lists, strings) is replaced, and ``null`` removes an inherited
key (``checks: {fairness: null}`` turns the inherited fairness check off).
The string ``{id}`` in any merged text value is replaced by the model's id, so
one ``defaults`` source can serve every model of a shared table.

``load_fleet(text, name)`` returns a ``Fleet`` or raises ``FleetError`` whose
``problems`` are lines naming the file, the line, the model and the field
(``fleet.yaml:42: models[3] (id sepsis-v4) > thresholds > psi_warning: ...``),
never the rejected value. ``plan_runs`` and ``shard`` are pure.
"""

from __future__ import annotations

import copy
import difflib
import functools
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from cronsim import CronSim, CronSimError
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    create_model,
)

from slack_alerts.live import (
    CheckResult,
    LiveModelConfig,
    run_data_health_check,
    run_drift_check,
    run_fairness_check,
    run_performance_check,
)
from slack_alerts.models import refuse_secret_id
from slack_alerts.sources.files import FileSource
from slack_alerts.sources.sql import SqlSource
from slack_alerts.text import looks_like_secret
from slack_alerts.yamlfile import Location, YamlDocument, describe_errors, load_yaml

# Each source kind's keys: to explain a key inherited from a source of another kind.
_SOURCE_KEYS: dict[str, tuple[str, ...]] = {
    str(member.model_fields["kind"].default): tuple(member.model_fields)
    for member in (SqlSource, FileSource)
}

CheckKind = Literal["drift", "performance", "fairness", "data_health"]
CHECK_KINDS: tuple[str, ...] = get_args(CheckKind)
FLEET_KEYS = ("id", "name", "group", "owner", "route", "checks")
# Filled from the model entry, never set in defaults or groups.
_IDENTITY = {"model_id": "id", "model_name": "name"}
ID_PLACEHOLDER = "{id}"


class FleetError(ValueError):
    """The fleet file is not valid; ``problems`` has one line per error (file:line: where: why)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in the fleet file:\n  "
            + "\n  ".join(self.problems)
        )


def _cron(value: str) -> str:
    text = " ".join(value.split())
    problem = "needs 5 fields" if len(text.split()) != 5 else None
    if problem is None:
        try:
            CronSim(text, datetime(2000, 1, 1, tzinfo=UTC))
        except CronSimError as exc:
            problem = str(exc)
    if problem:
        raise ValueError(
            f"not a valid cron expression ({problem}): use 5 fields, minute hour "
            "day-of-month month day-of-week, e.g. '0 * * * *' for hourly"
        )
    return text


Cron = Annotated[str, AfterValidator(_cron)]


def _block_ref(value: str) -> str:
    if looks_like_secret(value) or "://" in value:
        raise ValueError(
            "looks like a URL or a token (not shown): a route is the name of a saved Slack "
            "Alerts Webhook, Bot or Router block; save the URL as one (`export "
            "SLACK_WEBHOOK_URL=...` then `slack-alerts save-webhook NAME`) and give NAME here"
        )
    return value


# A route names a block: a webhook URL in the fleet file would be in git and in logs.
BlockRef = Annotated[str, AfterValidator(_block_ref)]
# Letters, digits and ._:- only: an id may be put into a source's query by `{id}`.
# Never a secret: an id is in every log line, task name, limit and message.
ModelId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
    ),
    AfterValidator(refuse_secret_id),
]


class _FleetFields(BaseModel):
    """The fleet's own keys of defaults, groups and models."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    owner: str | None = Field(
        default=None, description="The team or person answerable for the model (free text)."
    )
    route: BlockRef | None = Field(
        default=None,
        description=(
            "Name of a saved Slack Alerts Webhook or Router block; default: the fleet's "
            "`owners` entry of the model's owner, else SLACK_WEBHOOK_URL, else the local "
            "preview."
        ),
    )
    checks: dict[CheckKind, Cron | None] | None = Field(
        default=None,
        description="Which checks run, each on a cron schedule (UTC); null turns one off.",
    )


def _layer_fields() -> dict[str, Any]:
    # Any-typed here, validated after the merge by LiveModelConfig itself: a
    # default may hold half of a nested setting that a model completes.
    return {
        name: (Any, Field(default=None, description=info.description))
        for name, info in LiveModelConfig.model_fields.items()
        if name not in _IDENTITY
    }


Settings: type[_FleetFields] = create_model("Settings", __base__=_FleetFields, **_layer_fields())
Settings.__doc__ = "Settings shared by models: the fleet's keys and LiveModelConfig's fields."


class _EntryFields(_FleetFields):
    id: ModelId = Field(description="The model's id: unique in the fleet, used in fingerprints.")
    name: str | None = Field(default=None, description="Display name (default: the id).")
    group: str | None = Field(default=None, description="A key of `groups` whose settings apply.")


Entry: type[_FleetFields] = create_model("Entry", __base__=(Settings, _EntryFields))
Entry.__doc__ = "One model: its id, name and group, and its own settings."


FleetFile: type[BaseModel] = create_model(
    "FleetFile",
    __config__=ConfigDict(extra="forbid", hide_input_in_errors=True),
    name=(
        str,
        Field(
            default="fleet",
            pattern=r"^[a-z0-9][a-z0-9-]{0,39}$",
            description=(
                "The fleet's name (lowercase letters, digits, dashes): names its deployments."
            ),
        ),
    ),
    owners=(
        dict[str, BlockRef],
        Field(
            default_factory=dict,
            description=(
                "Owner -> route (block name): models of an owner go there unless they set `route`."
            ),
        ),
    ),
    defaults=(Settings, Field(default_factory=Settings, description="Settings of every model.")),
    groups=(
        dict[str, Settings],
        Field(
            default_factory=dict, description=("Named overrides; a model joins one with `group:`.")
        ),
    ),
    models=(list[Entry], Field(min_length=1, description="The models, one entry each.")),
)
FleetFile.__doc__ = "A fleet file: defaults, groups of overrides, and the models."


class FleetModel(BaseModel):
    """One model of a fleet, merged: its live config, its route and its checks."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    group: str | None = None
    owner: str | None = None
    route: str | None = None
    checks: dict[str, str] = Field(description="check kind -> cron schedule (UTC)")
    config: LiveModelConfig


@dataclass(frozen=True)
class Fleet:
    """A validated fleet: its name and its merged models, in file order."""

    name: str
    models: tuple[FleetModel, ...]

    def model(self, model_id: str) -> FleetModel:
        for model in self.models:
            if model.id == model_id:
                return model
        raise KeyError(model_id)

    def select(self, ids: Iterable[str]) -> Fleet:
        """The fleet restricted to ``ids``; raises ``KeyError`` naming unknown ids."""
        wanted = list(ids)
        known = {m.id for m in self.models}
        unknown = [i for i in wanted if i not in known]
        if unknown:
            raise KeyError(", ".join(unknown))
        return Fleet(self.name, tuple(m for m in self.models if m.id in set(wanted)))


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` on ``base``: mappings merge by key, other values replace, None removes."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _fill_id(value: Any, model_id: str) -> Any:
    if isinstance(value, str):
        return value.replace(ID_PLACEHOLDER, model_id)
    if isinstance(value, dict):
        return {k: _fill_id(v, model_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_id(v, model_id) for v in value]
    return value


def _given(layer: Any) -> dict[str, Any]:
    """The keys a layer sets, as plain data (unset keys are absent, null ones kept)."""
    dumped: dict[str, Any] = layer.model_dump(exclude_unset=True, mode="python")
    return dumped


def _layers(file: Any, index: int) -> list[tuple[Location, dict[str, Any]]]:
    entry = file.models[index]
    layers: list[tuple[Location, dict[str, Any]]] = [(("defaults",), _given(file.defaults))]
    if entry.group is not None:
        layers.append((("groups", entry.group), _given(file.groups[entry.group])))
    own = {k: v for k, v in _given(entry).items() if k not in ("id", "name", "group")}
    layers.append((("models", index), own))
    return layers


def _origin(layers: list[tuple[Location, dict[str, Any]]], loc: Location) -> Location:
    """Where in the file the value at ``loc`` of the merged settings was written: the
    last layer that sets its top-level key (the model, its group, or defaults)."""
    for where, data in reversed(layers):
        if len(loc) > 1 and _present(data, loc) == loc:
            return (*where, *loc)  # a nested key, written in this layer
    for where, data in reversed(layers):
        if loc and loc[0] in data:
            return (*where, *loc)
    return (*layers[-1][0], *loc)


def _present(data: Any, loc: Location) -> Location:
    """The longest prefix of ``loc`` that exists in ``data``, without pydantic's union
    tags (``source > sql > table`` is ``source > table``)."""
    kept: list[int | str] = []
    parts = list(loc)
    for i, part in enumerate(parts):
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if not (in_list or (isinstance(data, dict) and part in data)):
            following = parts[i + 1] if i + 1 < len(parts) else None
            if isinstance(data, dict) and following is not None and following in data:
                continue  # a union member's tag, such as "sql" or "files"
            break
        data = data[part]
        kept.append(part)
    return tuple(kept)


@functools.cache
def _known_keys() -> tuple[str, ...]:
    """Every key a fleet file may use, at any depth: for 'did you mean'."""
    found: set[str] = {*FLEET_KEYS, "name", "owners", "defaults", "groups", "models"}

    def collect(schema: Any) -> None:
        if isinstance(schema, dict):
            found.update(str(k) for k in (schema.get("properties") or {}))
            for value in schema.values():
                collect(value)
        elif isinstance(schema, list):
            for value in schema:
                collect(value)

    collect(LiveModelConfig.model_json_schema())
    return tuple(sorted(found))


def _shown(value: str) -> str:
    return "(not shown: it looks like a secret)" if looks_like_secret(value) else repr(value)


def _unknown_key(key: str, merged: Mapping[str, Any], loc: Location) -> str:
    """'unknown key ...' for a key pydantic calls an extra input, with a suggestion."""
    source = merged.get("source") if loc and loc[0] == "source" else None
    if isinstance(source, Mapping) and len(loc) == 2:
        kind = source.get("kind", "sql")
        others = [k for k in _SOURCE_KEYS if k != kind and key in _SOURCE_KEYS[k]]
        if others and key not in _SOURCE_KEYS.get(str(kind), ()):
            return (
                f"unknown key {key!r} for a {kind} source: it is a key of a {others[0]} "
                f"source; where a {kind} source inherits it, set `{key}: null` in that source"
            )
    close = difflib.get_close_matches(key, _known_keys(), n=1)
    return f"unknown key {key!r}" + (f"; did you mean {close[0]!r}?" if close else "")


@dataclass
class _Problems:
    """Problems keyed by where they were written, so a bad default is reported once."""

    document: YamlDocument
    found: dict[tuple[Location, str], dict[str, Any]] = dataclass_field(default_factory=dict)

    def add(self, where: Location, field: str, message: str, model: str | None = None) -> None:
        entry = self.found.setdefault(
            (where, field), {"messages": [], "models": [], "field": field}
        )
        if message not in entry["messages"]:
            entry["messages"].append(message)
        if model is not None and model not in entry["models"]:
            entry["models"].append(model)

    def lines(self) -> list[str]:
        out = []
        for (where, _), entry in self.found.items():
            line = self.document.line_of(where)
            models = entry["models"]
            whose = ""
            if where[0] != "models" and models:
                shown = ", ".join(models[:3]) + (
                    f" and {len(models) - 3} more" if len(models) > 3 else ""
                )
                whose = f" (inherited by {shown})"
            out.append(
                f"{self.document.name}:{line}: {entry['field']}: "
                f"{' or '.join(entry['messages'])}{whose}"
            )
        return out


def _layer_label(layer: Location, entry_label: str) -> str:
    if layer[0] == "models":
        return entry_label
    return " > ".join(str(p) for p in layer)


def _merge_model(file: Any, index: int, problems: _Problems) -> FleetModel | None:
    entry = file.models[index]
    label = f"models[{index}] ({entry.id})"
    if entry.group is not None and entry.group not in file.groups:
        known = ", ".join(sorted(file.groups)) or "none defined"
        problems.add(
            ("models", index, "group"),
            f"{label} > group",
            f"no group {entry.group!r} (groups: {known})",
        )
        return None
    layers = _layers(file, index)
    merged: dict[str, Any] = {}
    for _, data in layers:
        merged = deep_merge(merged, data)
    merged = _fill_id(merged, entry.id)
    checks = {str(k): str(v) for k, v in (merged.pop("checks", None) or {}).items()}
    route = merged.pop("route", None)
    owner = merged.pop("owner", None)
    valid = True
    if route is None and owner is not None:
        route = file.owners.get(owner)
        if route is None and file.owners:
            # A typo here would silently send the model's alerts to the default route.
            close = difflib.get_close_matches(str(owner), list(file.owners), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            where = _origin(layers, ("owner",))
            known = ", ".join(sorted(file.owners))
            problems.add(
                where,
                f"{_layer_label(where[:-1], label)} > owner",
                f"no owner {_shown(str(owner))} in `owners` ({known}); {hint}add it to "
                "`owners`, or give the model a `route`",
                entry.id,
            )
            valid = False
    name = entry.name or entry.id
    try:
        config = LiveModelConfig.model_validate(merged | {"model_id": entry.id, "model_name": name})
    except ValidationError as exc:
        for item in exc.errors(include_input=False, include_url=False):
            loc = _present(merged, tuple(item["loc"])) or tuple(item["loc"])[:1]
            where = _origin(layers, loc)
            layer = where[: len(where) - len(loc)]
            field = " > ".join([_layer_label(layer, label), *map(str, loc)])
            message = str(item["msg"]).removeprefix("Value error, ")
            if item["type"] == "extra_forbidden" and loc:
                message = _unknown_key(str(loc[-1]), merged, loc)
            problems.add(where, field, message, entry.id)
        return None
    if not valid:
        return None
    if not checks:
        problems.add(
            ("models", index),
            f"{label} > checks",
            "no check runs for this model (set `checks` in defaults, its group or the model)",
        )
        return None
    return FleetModel(
        id=entry.id,
        name=name,
        group=entry.group,
        owner=owner,
        route=route,
        checks=checks,
        config=config,
    )


def _suggest(error: ValidationError, lines: list[str]) -> list[str]:
    """'Extra inputs are not permitted' -> 'unknown key; did you mean ...?'."""
    allowed = [
        *FLEET_KEYS,
        *LiveModelConfig.model_fields,
        "name",
        "owners",
        "defaults",
        "groups",
        "models",
    ]
    out = []
    for item, line in zip(error.errors(include_input=False, include_url=False), lines, strict=True):
        if item["type"] == "extra_forbidden" and item["loc"]:
            key = str(item["loc"][-1])
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            line = line.replace(item["msg"], f"unknown key {key!r}{hint}")
        out.append(line)
    return out


def load_fleet(text: str, name: str = "fleet.yaml") -> Fleet:
    """Validate and merge a fleet file's text; raise ``FleetError`` (or ``YamlError``)."""
    document = load_yaml(text, name)
    if not isinstance(document.data, dict):
        raise FleetError([f"{name}:1: (top level): expected a mapping with a `models` list"])
    try:
        file: Any = FleetFile.model_validate(document.data)
    except ValidationError as exc:
        raise FleetError(_suggest(exc, describe_errors(exc, document))) from None
    problems = _Problems(document)
    first: dict[str, int] = {}
    for index, entry in enumerate(file.models):
        if entry.id in first:
            problems.add(
                ("models", index, "id"),
                f"models[{index}] ({entry.id}) > id",
                f"duplicate model id (also models[{first[entry.id]}])",
            )
        first.setdefault(entry.id, index)
    models = [_merge_model(file, i, problems) for i in range(len(file.models))]
    if problems.found:
        raise FleetError(problems.lines())
    return Fleet(str(file.name), tuple(m for m in models if m is not None))


def read_fleet(path: str | Path) -> Fleet:
    """``load_fleet`` of a file, errors naming it as given."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise FleetError([f"{path}: cannot read ({type(exc).__name__})"]) from None
    return load_fleet(text, str(path))


# --- JSON Schema -------------------------------------------------------------------------


def _relaxed(schema: Any) -> Any:
    """No ``required`` anywhere: defaults and groups may hold part of a setting."""
    if isinstance(schema, dict):
        return {k: _relaxed(v) for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [_relaxed(v) for v in schema]
    return schema


def _any_case(word: str) -> str:
    """``word`` as a case-insensitive ECMA-262 pattern (JSON Schema has no flags)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


_NUMBER_UNIT = (
    r"\s+\d+(\.\d+)?\s*(" + "|".join(_any_case(u) for u in ("hour", "day", "week")) + r")[sS]?\s*$"
)
# The phrases slack_alerts.windows.parse_spec reads (case and spacing are free).
_WINDOW_PHRASES: dict[str, list[dict[str, Any]]] = {
    "current": [
        {
            "type": "string",
            "pattern": r"^\s*" + _any_case("last") + _NUMBER_UNIT,
            "description": "A phrase: 'last N hours' (or days, weeks).",
        }
    ],
    "reference": [
        {
            "type": "string",
            "pattern": (
                r"^\s*("
                + _any_case("previous")
                + _NUMBER_UNIT[:-1]
                + r"|"
                + _any_case("same")
                + r"\s+("
                + _any_case("hour")
                + "|"
                + _any_case("window")
                + r")\s+("
                + _any_case("last")
                + r"\s+"
                + _any_case("week")
                + "|"
                + _any_case("yesterday")
                + r")\s*|[^/]+/[^/]+)$"
            ),
            "description": (
                "A phrase: 'previous N hours' (or days, weeks), 'same hour last week', "
                "'same hour yesterday', or 'START/END' (ISO-8601)."
            ),
        }
    ],
}


def fleet_json_schema() -> dict[str, Any]:
    """The fleet file's JSON Schema (draft 2020-12), for editors and `fleet schema`.

    LiveModelConfig's fields carry their own types, with ``required`` dropped
    (a value may come from defaults or a group); the merge is checked by
    ``load_fleet``, which the schema cannot express.
    """
    schema: dict[str, Any] = FleetFile.model_json_schema()
    live = LiveModelConfig.model_json_schema(ref_template="#/$defs/{model}")
    defs = schema.setdefault("$defs", {})
    for key, value in _relaxed(live.get("$defs", {})).items():
        defs.setdefault(key, value)
    for model in ("Settings", "Entry"):
        properties = defs[model]["properties"]
        for field, value in live["properties"].items():
            if field in properties and field not in _IDENTITY:
                # null is allowed in a layer: it removes an inherited value.
                forms = [_relaxed(value), *_WINDOW_PHRASES.get(field, []), {"type": "null"}]
                properties[field] = {"anyOf": forms}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "slack-alerts fleet file"
    return schema


# --- Planning ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedRun:
    """One scheduled run: a check kind on a cron schedule, over these models (file order)."""

    kind: str
    cron: str
    models: tuple[str, ...]

    @property
    def slug(self) -> str:
        """A short, stable name for the schedule: ``drift-0-x-x-x-x``-like, then a hash."""
        digest = hashlib.sha256(self.cron.encode()).hexdigest()[:6]
        return f"{self.kind.replace('_', '-')}-{digest}"


def plan_runs(fleet: Fleet) -> list[PlannedRun]:
    """One run per (check kind, schedule), with the models that run it; sorted by kind, cron."""
    runs: dict[tuple[str, str], list[str]] = {}
    for model in fleet.models:
        for kind, cron in model.checks.items():
            runs.setdefault((kind, cron), []).append(model.id)
    order = {kind: i for i, kind in enumerate(CHECK_KINDS)}
    return [
        PlannedRun(kind, cron, tuple(ids))
        for (kind, cron), ids in sorted(runs.items(), key=lambda x: (order[x[0][0]], x[0][1]))
    ]


def _rank(model_id: str) -> str:
    return hashlib.sha256(model_id.encode("utf-8")).hexdigest()


def shard(models: Sequence[str], n: int) -> list[list[str]]:
    """Split ``models`` into ``n`` shards whose sizes differ by at most one.

    Stable: the split depends only on the set of ids (ordered by a hash of
    each id, dealt round-robin), not on their order in the file, so every
    shard run of the same slot computes the same split independently.
    Raises ``ValueError`` when ``n < 1``.
    """
    if n < 1:
        raise ValueError(f"shard count must be at least 1, got {n}")
    ordered = sorted(set(models), key=_rank)
    return [ordered[i::n] for i in range(n)]


def last_slot(cron: str, at: datetime) -> datetime:
    """The latest time ``cron`` fires at or before ``at`` (UTC): the end of that slot's window."""
    moment = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    # CronSim in reverse yields fire times strictly before its start.
    after = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return next(CronSim(cron, after, reverse=True)).astimezone(UTC)


CHECKS: dict[str, Callable[[LiveModelConfig, datetime], CheckResult]] = {
    "drift": run_drift_check,
    "performance": run_performance_check,
    "fairness": run_fairness_check,
    "data_health": run_data_health_check,
}


def run_check(kind: str, config: LiveModelConfig, scheduled_time: datetime) -> CheckResult:
    """Run check ``kind`` (a ``CHECK_KINDS`` name) of one model for the slot ending at
    ``scheduled_time``; raises what the check raises (``SourceError`` for its data)."""
    try:
        check = CHECKS[kind]
    except KeyError:
        raise ValueError(f"unknown check {kind!r} (known: {', '.join(CHECK_KINDS)})") from None
    return check(config, scheduled_time)
