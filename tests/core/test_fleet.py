"""The fleet file: validation naming model, field and line; the merge; the planner; shards."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slack_alerts.fleet import (
    Fleet,
    FleetError,
    deep_merge,
    fleet_json_schema,
    last_slot,
    load_fleet,
    plan_runs,
    shard,
)

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
name: clinical
owners: {cardiology: cardio-alerts}
defaults:
  route: ml-alerts
  checks: {drift: "0 * * * *", data_health: "0 * * * *"}
  source:
    kind: sql
    url: "postgresql+psycopg://reader@db/ml"
    query: "SELECT * FROM inference_log WHERE model_id = '{id}' AND ts >= :start AND ts < :end"
    timestamp_column: ts
  features: [age, lactate]
  drift: {psi_warning: 0.1, psi_critical: 0.25}
groups:
  icu:
    route: icu-alerts
    drift: {psi_warning: 0.2}
    checks: {performance: "0 6 * * *"}
models:
  - {id: sepsis-v4, name: Sepsis early warning, group: icu, score_column: p, label_column: y}
  - id: readmit-v2
    owner: cardiology
    route: null
    checks: {data_health: null, fairness: "0 7 * * 1"}
    sensitive_features: [sex]
    prediction_column: yhat
    label_column: y
  - id: los-v1
    source: {table: los_predictions, query: null}
"""


def test_defaults_group_and_model_merge() -> None:
    fleet = load_fleet(GOOD, "fleet.yaml")
    sepsis, readmit, los = fleet.models
    # group over defaults, key by key inside a mapping
    assert sepsis.route == "icu-alerts"
    assert sepsis.config.drift.psi_warning == 0.2
    assert sepsis.config.drift.psi_critical == 0.25
    assert sepsis.checks == {
        "drift": "0 * * * *",
        "data_health": "0 * * * *",
        "performance": "0 6 * * *",
    }
    assert "model_id = 'sepsis-v4'" in (sepsis.config.source.query or "")
    assert sepsis.config.model_name == "Sepsis early warning"
    # null removes an inherited value; owner -> route when no route is left
    assert readmit.route == "cardio-alerts"
    assert readmit.checks == {"drift": "0 * * * *", "fairness": "0 7 * * 1"}
    assert readmit.config.model_name == "readmit-v2"
    # a nested setting replaced in part: table instead of the default query
    assert los.config.source.table == "los_predictions"
    assert los.config.source.query is None
    assert los.config.drift.psi_warning == 0.1


def test_deep_merge_rules() -> None:
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1, "c": 3}
    assert deep_merge(base, {"a": {"y": [3]}, "b": None}) == {"a": {"x": 1, "y": [3]}, "c": 3}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 1, "c": 3}  # not mutated


def _line(text: str, fragment: str) -> int:
    """1-based line of the first line of ``text`` containing ``fragment``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def _problems(text: str) -> list[str]:
    with pytest.raises(FleetError) as caught:
        load_fleet(text, "fleet.yaml")
    return caught.value.problems


def test_unknown_key_names_model_field_and_line_with_a_suggestion() -> None:
    text = GOOD.replace("    sensitive_features: [sex]", "    sensitive_featres: [sex]")
    (problem,) = _problems(text)
    line = _line(text, "sensitive_featres")
    assert problem.startswith(f"fleet.yaml:{line}: models[1] (readmit-v2) > sensitive_featres:")
    assert "did you mean 'sensitive_features'" in problem


def test_bad_value_in_a_model_names_it() -> None:
    text = GOOD.replace("    prediction_column: yhat", "    prediction_column: [yhat]")
    (problem,) = _problems(text)
    line = _line(text, "prediction_column")
    assert problem.startswith(f"fleet.yaml:{line}: models[1] (readmit-v2) > prediction_column:")


def test_bad_default_is_reported_once_at_its_line_naming_who_inherits_it() -> None:
    text = GOOD.replace("psi_warning: 0.1,", "psi_warning: -1,")
    (problem,) = _problems(text)
    line = _line(text, "psi_warning: -1")
    assert problem.startswith(f"fleet.yaml:{line}: defaults > drift > psi_warning:")
    assert "greater than 0" in problem and "inherited by readmit-v2, los-v1" in problem
    assert "-1" not in problem.split(":", 3)[-1]  # the value is never echoed


def test_bad_cron_names_its_line() -> None:
    text = GOOD.replace('fairness: "0 7 * * 1"', 'fairness: "0 7 * * 8"')
    (problem,) = _problems(text)
    line = _line(text, "* * 8")
    assert problem.startswith(f"fleet.yaml:{line}: models[1] (readmit-v2) > checks > fairness:")
    assert "not a valid cron expression" in problem


def test_duplicate_id_unknown_group_and_secret_not_echoed() -> None:
    text = GOOD.replace("  - id: los-v1", "  - id: sepsis-v4\n    group: surgery").replace(
        "reader@db", "reader:hunter2@db"
    )
    joined = "\n".join(_problems(text))
    dup, group = (_line(text, f) for f in ("- id: sepsis-v4", "surgery"))
    assert f"fleet.yaml:{dup}: models[2] (sepsis-v4) > id: duplicate model id (also models[0])" in (
        joined
    )
    assert f"fleet.yaml:{group}: models[2] (sepsis-v4) > group: no group 'surgery'" in joined
    assert "hunter2" not in joined


def test_source_half_given_names_the_rule() -> None:
    text = GOOD.replace(
        "    source: {table: los_predictions, query: null}", "    source: {table: t}"
    )
    (problem,) = _problems(text)
    line = _line(text, "source: {table: t}")
    assert problem.startswith(f"fleet.yaml:{line}: models[2] (los-v1) > source:")
    assert "exactly one of table or query" in problem


def test_cli_validate_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from flows.cli import main

    path = tmp_path / "fleet.yaml"
    text = GOOD.replace("    owner: cardiology", "    ownr: cardiology")
    path.write_text(text)
    assert main(["fleet", "validate", str(path)]) == 1
    err = capsys.readouterr().err
    line = _line(text, "ownr")
    assert f"{path}:{line}: models[1] (readmit-v2) > ownr: unknown key 'ownr'" in err
    path.write_text(GOOD)
    assert main(["fleet", "validate", str(path)]) == 0
    assert "3 models, 4 scheduled run(s)" in capsys.readouterr().out


def test_planner_one_run_per_kind_and_schedule() -> None:
    runs = plan_runs(load_fleet(GOOD))
    assert [(r.kind, r.cron, r.models) for r in runs] == [
        ("drift", "0 * * * *", ("sepsis-v4", "readmit-v2", "los-v1")),
        ("performance", "0 6 * * *", ("sepsis-v4",)),
        ("fairness", "0 7 * * 1", ("readmit-v2",)),
        ("data_health", "0 * * * *", ("sepsis-v4", "los-v1")),
    ]
    assert len({r.slug for r in runs}) == len(runs)


@given(
    st.lists(st.text("abcdefgh0123456789-", min_size=1, max_size=8), unique=True, max_size=60),
    st.integers(1, 7),
)
def test_shards_partition_balanced_and_stable(ids: list[str], n: int) -> None:
    parts = shard(ids, n)
    assert len(parts) == n
    assert Counter(i for p in parts for i in p) == Counter(ids)
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1
    assert shard(list(reversed(ids)), n) == parts  # file order does not matter


def test_shard_count_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        shard(["a"], 0)


def test_last_slot() -> None:
    at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert last_slot("0 * * * *", at) == at
    assert last_slot("0 * * * *", at.replace(minute=59, second=30)) == at
    assert last_slot("0 6 * * *", at) == at.replace(hour=6)
    assert last_slot("*/5 * * * *", at.replace(minute=7)) == at.replace(minute=5)


def test_committed_schema_equals_the_model() -> None:
    committed = json.loads((ROOT / "docs" / "fleet.schema.json").read_text())
    assert committed == fleet_json_schema(), (
        "run: slack-alerts fleet schema > docs/fleet.schema.json"
    )


def test_schema_lists_live_fields_with_their_types() -> None:
    schema = fleet_json_schema()
    entry = schema["$defs"]["Entry"]
    assert entry["additionalProperties"] is False
    assert {"id", "group", "route", "checks", "source", "features", "drift"} <= set(
        entry["properties"]
    )
    assert "required" not in schema["$defs"]["Settings"]


def test_select_names_unknown_models() -> None:
    fleet: Fleet = load_fleet(GOOD)
    assert [m.id for m in fleet.select(["los-v1"]).models] == ["los-v1"]
    with pytest.raises(KeyError, match="nope"):
        fleet.select(["nope"])


def test_sample_fleet_finds_the_drifting_model(monkeypatch: pytest.MonkeyPatch) -> None:
    from slack_alerts.fleet import read_fleet, run_check

    monkeypatch.chdir(ROOT)  # the sample's paths are relative to the repository
    fleet = read_fleet("examples/fleet.yaml")
    slot = datetime(2026, 1, 5, 12, tzinfo=UTC)
    drifting = {}
    for model in fleet.models:
        result = run_check("drift", model.config, slot)
        assert result.rows_read == 25 * 150  # the slot's hour and the 24 before it
        drifting[model.id] = bool(result.alerts)
    assert drifting == {
        "sepsis-risk-v3": True,
        "readmission-v2": False,
        "los-v1": False,
        "triage-v5": False,
    }


def test_validate_connect_names_the_source_that_does_not_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlalchemy as sa

    from flows.cli import main

    database = tmp_path / "log.db"
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE log (ts TIMESTAMP, f00 REAL)"))
    engine.dispose()
    path = tmp_path / "fleet.yaml"
    path.write_text(
        "defaults:\n"
        '  checks: {drift: "0 * * * *"}\n'
        f"  source: {{kind: sql, url: 'sqlite:///{database}', table: log, timestamp_column: ts}}\n"
        "models:\n"
        "  - {id: good}\n"
        "  - {id: gone, source: {table: no_such_table}}\n"
    )
    assert main(["fleet", "validate", str(path), "--connect"]) == 1
    out = capsys.readouterr()
    assert "gone: source does not answer: SourceError: table: no table 'no_such_table'" in out.out
    assert "good:" not in out.out
    assert "1 of 2 source(s) did not answer" in out.err


# --- Probe fixes: secrets, typos and the schema ---------------------------------------------

SECRETS = (
    "postgresql://u:SuperSecret123@h/db",
    "https://hooks.slack.com/services/T000/B000/XXXXSECRETWEBHOOK",
    "xoxb-123456789012-abcdefSECRET",
)


@pytest.mark.parametrize("secret", SECRETS)
def test_a_secret_as_connector_is_refused_naming_the_field(secret: str) -> None:
    text = (
        'defaults: {checks: {drift: "0 * * * *"}, source: {kind: sql, table: preds, '
        "timestamp_column: ts}}\n"
        f'models: [{{id: a, name: A, source: {{connector: "{secret}"}}}}]\n'
    )
    (problem,) = _problems(text)
    assert problem.startswith("fleet.yaml:2: models[0] (a) > source > connector: looks like a URL")
    assert "SuperSecret123" not in problem and "SECRET" not in problem


@pytest.mark.parametrize("field", ["table", "db_schema", "timestamp_column"])
def test_a_bad_sql_identifier_is_never_echoed(field: str) -> None:
    from pydantic import ValidationError

    from slack_alerts.sources.sql import SqlSource

    given = {"url": "sqlite://", "table": "t", "timestamp_column": "ts"}
    given[field] = "postgresql://user:SuperSecret123@db/x"
    with pytest.raises(ValidationError) as caught:
        SqlSource.model_validate(given)
    assert "SuperSecret123" not in str(caught.value)
    assert caught.value.errors()[0]["loc"] == (field,)
    assert "plain SQL identifier" in str(caught.value)
    text = GOOD.replace(
        "    timestamp_column: ts",
        f'    {field}: "{given[field]}"'
        + ("" if field == "timestamp_column" else "\n    timestamp_column: ts"),
    )
    joined = "\n".join(_problems(text))
    assert f"defaults > source > {field}: must be a plain SQL identifier" in joined
    assert "SuperSecret123" not in joined


def test_a_file_path_holding_a_password_is_refused_without_echo() -> None:
    from pydantic import ValidationError

    from slack_alerts.sources.files import FileSource

    with pytest.raises(ValidationError) as caught:
        FileSource(
            path="https://u:SuperSecret123@example.com/x.csv", format="csv", timestamp_column="ts"
        )
    assert "SuperSecret123" not in str(caught.value)
    assert caught.value.errors()[0]["loc"] == ("path",)


def test_a_token_shaped_model_id_is_refused_in_the_fleet_and_in_alerts() -> None:
    from pydantic import ValidationError

    from slack_alerts import DriftAlert

    token = "xoxb-123456789012-abcdefSECRET"
    text = GOOD.replace("  - id: los-v1", f"  - id: {token}")
    (problem,) = _problems(text)
    line = _line(text, token)
    assert problem.startswith(
        f"fleet.yaml:{line}: models[2] (id not shown) > id: looks like a token"
    )
    assert "SECRET" not in problem
    with pytest.raises(ValidationError) as caught:
        DriftAlert(
            model_id=token,
            model_name="m",
            metric="psi",
            current_value=1.0,
            baseline_value=0.0,
            threshold=0.1,
        )
    assert "SECRET" not in str(caught.value) and "model_id" in str(caught.value)
    # A live config built in Python (a deployment's `live` parameter) refuses it too.
    from slack_alerts.live import LiveModelConfig

    with pytest.raises(ValidationError) as live_error:
        LiveModelConfig.model_validate(
            {
                "model_id": token,
                "model_name": "m",
                "source": {
                    "kind": "files",
                    "path": "predictions/",
                    "format": "parquet",
                    "timestamp_column": "ts",
                },
            }
        )
    assert [e["loc"] for e in live_error.value.errors()] == [("model_id",)]
    assert "SECRET" not in str(live_error.value)


def test_a_misspelt_owner_is_an_error_with_a_suggestion() -> None:
    text = GOOD.replace("    owner: cardiology", "    owner: cardiolgy")
    (problem,) = _problems(text)
    line = _line(text, "owner: cardiolgy")
    assert problem.startswith(f"fleet.yaml:{line}: models[1] (readmit-v2) > owner: no owner")
    assert "did you mean 'cardiology'?" in problem


def test_a_url_as_route_is_refused_without_echo() -> None:
    text = GOOD.replace("  route: ml-alerts", f"  route: {SECRETS[1]}")
    (problem,) = _problems(text)
    line = _line(text, "route: https")
    assert problem.startswith(f"fleet.yaml:{line}: defaults > route: looks like")
    assert "SECRETWEBHOOK" not in problem


def test_unknown_keys_inside_a_source_are_named_with_their_line() -> None:
    text = GOOD.replace(
        "    timestamp_column: ts", "    timestmap_column: ts\n    timestamp_column: ts"
    )
    (problem,) = _problems(text)
    line = _line(text, "timestmap_column")
    assert problem.startswith(
        f"fleet.yaml:{line}: defaults > source > timestmap_column: unknown key"
    )
    assert "did you mean 'timestamp_column'?" in problem
    # a sql-only key inherited into a files source
    text = GOOD.replace(
        "    source: {table: los_predictions, query: null}",
        "    source: {kind: files, path: x.parquet, format: parquet, query: null}",
    )
    (problem,) = _problems(text)
    line = _line(text, "    url: ")
    assert problem.startswith(
        f"fleet.yaml:{line}: defaults > source > url: unknown key 'url' for a files source: "
        "it is a key of a sql source; where a files source inherits it, set `url: null`"
    )
    assert problem.endswith("(inherited by los-v1)")


def test_the_schema_accepts_the_sample_fleet_and_the_readme_example() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    schema = json.loads((ROOT / "docs" / "fleet.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    readme = (ROOT / "README.md").read_text().split("## Monitoring a fleet")[1]
    for text in (
        (ROOT / "examples" / "fleet.yaml").read_text(),
        readme.split("```yaml\n")[1].split("```")[0],
    ):
        assert [e.message for e in validator.iter_errors(yaml.safe_load(text))] == []
    phrase = {"models": [{"id": "a", "current": "last 2 days", "reference": "same hour yesterday"}]}
    assert not list(validator.iter_errors(phrase))
    wrong = {"models": [{"id": "a", "current": "previous 2 days"}]}
    assert list(validator.iter_errors(wrong))


def test_the_readme_fleet_example_runs(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd
    import sqlalchemy as sa

    from slack_alerts.fleet import run_check

    rng = np.random.default_rng(1)
    hours = pd.date_range("2026-03-01", "2026-03-09", freq="10min", tz="UTC")[:-1]
    rows = pd.DataFrame(
        {
            "model_id": rng.choice(["sepsis-v4", "los-v1"], len(hours)),
            "ts": hours.tz_convert(None),
            "age": rng.normal(60, 10, len(hours)),
            "heart_rate": rng.normal(80, 5, len(hours)),
            "lactate": rng.normal(2, 0.5, len(hours)),
            "p": rng.uniform(size=len(hours)),
            "y": rng.integers(0, 2, len(hours)),
        }
    )
    url = f"sqlite:///{tmp_path / 'ml.db'}"
    engine = sa.create_engine(url)
    rows.to_sql("inference_log", engine, index=False)
    rows.to_sql("los_predictions", engine, index=False)
    engine.dispose()
    readme = (ROOT / "README.md").read_text().split("## Monitoring a fleet")[1]
    text = readme.split("```yaml\n")[1].split("```")[0]
    text = text.replace("connector: warehouse", f"url: '{url}'")
    fleet = load_fleet(text, "README.md")
    slot = datetime(2026, 3, 8, 12, tzinfo=UTC)
    for model in fleet.models:
        result = run_check("drift", model.config, slot)
        assert result.rows_read > 0, model.id
