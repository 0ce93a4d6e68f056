"""deployments/prefect.yaml is valid beyond what Prefect's own yaml model checks."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.cli.deploy._models import PrefectYamlModel
from prefect.client.schemas.schedules import CronSchedule
from prefect.flows import load_flow_from_entrypoint

ROOT = Path(__file__).resolve().parents[2]
PREFECT_YAML = ROOT / "deployments" / "prefect.yaml"


def problems(document: dict[str, Any]) -> list[str]:
    """Everything wrong with a prefect.yaml document (empty when valid)."""
    found: list[str] = []
    PrefectYamlModel.model_validate(document)
    for spec in document.get("deployments", []):
        name = spec.get("name", "?")
        try:
            flow = load_flow_from_entrypoint(str(ROOT / spec["entrypoint"]))
        except Exception as exc:
            found.append(f"{name}: entrypoint does not load ({type(exc).__name__}: {exc})")
            continue
        for schedule in spec.get("schedules") or []:
            try:
                CronSchedule(cron=schedule["cron"], timezone=schedule.get("timezone"))
            except Exception as exc:
                found.append(f"{name}: bad cron {schedule.get('cron')!r} ({type(exc).__name__})")
        parameters = spec.get("parameters") or {}
        try:
            flow.validate_parameters(parameters)
        except Exception as exc:
            found.append(f"{name}: parameters do not fit {flow.name}: {exc}")
        for value in parameters.values():
            if isinstance(value, str) and value.startswith("data/") and not (ROOT / value).exists():
                found.append(f"{name}: {value} does not exist")
        if not (spec.get("work_pool") or {}).get("name"):
            found.append(f"{name}: no work pool")
    return found


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(PREFECT_YAML.read_text())
    return loaded


def test_prefect_yaml_is_valid(document: dict[str, Any]) -> None:
    assert problems(document) == []
    names = [d["name"] for d in document["deployments"]]
    assert names == ["drift-hourly", "fairness-daily", "security-5min"]
    crons = {d["name"]: d["schedules"][0]["cron"] for d in document["deployments"]}
    assert crons == {
        "drift-hourly": "0 * * * *",
        "fairness-daily": "0 6 * * *",
        "security-5min": "*/5 * * * *",
    }
    assert all("slack-alerts" in d["tags"] for d in document["deployments"])
    assert "pull" not in document  # prefect deploy records the project directory itself


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["deployments"][0]["schedules"][0].update(cron="61 * * * *"), "bad cron"),
        (
            lambda d: d["deployments"][1].update(
                entrypoint="flows/monitors/fairness.py:no_such_flow"
            ),
            "does not load",
        ),
        (
            lambda d: d["deployments"][2]["parameters"].update(unknown_param=1),
            "parameters do not fit",
        ),
        (lambda d: d["deployments"][0]["parameters"].pop("model_id"), "parameters do not fit"),
        (
            lambda d: d["deployments"][0]["parameters"].update(reference="data/sample/nope.csv"),
            "does not exist",
        ),
    ],
)
def test_checker_catches_mistakes(document: dict[str, Any], mutate: Any, message: str) -> None:
    import copy

    broken = copy.deepcopy(document)
    mutate(broken)
    assert any(message in p for p in problems(broken)), problems(broken)


def test_serve_builds_the_same_deployments(
    monkeypatch: pytest.MonkeyPatch, document: dict[str, Any]
) -> None:
    spec = importlib.util.spec_from_file_location("serve", ROOT / "deployments" / "serve.py")
    assert spec and spec.loader
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    monkeypatch.setenv("SLACK_ALERTS_SECURITY_CRON", "*/15 * * * *")
    deployments = {d.name: d for d in serve.build_deployments()}
    # Same flows, schedules and parameters, under names of their own: serving
    # prefect.yaml's names would overwrite the work-pool deployments.
    assert set(deployments) == {
        "drift-hourly-served",
        "fairness-daily-served",
        "security-5min-served",
    }
    assert not set(deployments) & {d["name"] for d in document["deployments"]}
    assert deployments["drift-hourly-served"].schedules[0].schedule.cron == "0 * * * *"
    assert deployments["security-5min-served"].schedules[0].schedule.cron == "*/15 * * * *"
    assert deployments["fairness-daily-served"].parameters["live"]["sensitive_features"] == [
        "ethnicity"
    ]
