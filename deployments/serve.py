"""Serve the three deployments of ``deployments/prefect.yaml`` in one process.

    python deployments/serve.py              # from the repository root

The schedules and parameters come from prefect.yaml, so there is one place
to change them; ``SLACK_ALERTS_<FLOW>_CRON`` (DRIFT, FAIRNESS, SECURITY)
overrides a schedule for this process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import yaml
from prefect import Flow, serve
from prefect.flows import load_flow_from_entrypoint
from prefect.schedules import Cron

ROOT = Path(__file__).resolve().parent.parent
PREFECT_YAML = ROOT / "deployments" / "prefect.yaml"


def deployment_specs(path: Path = PREFECT_YAML) -> list[dict[str, Any]]:
    """The ``deployments`` entries of prefect.yaml."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    specs: list[dict[str, Any]] = document["deployments"]
    return specs


def cron_override(spec: dict[str, Any]) -> str | None:
    flow_kind = spec["name"].split("-", 1)[0].upper()
    return os.environ.get(f"SLACK_ALERTS_{flow_kind}_CRON")


def build_deployments() -> list[Any]:
    deployments = []
    for spec in deployment_specs():
        flow: Flow[..., Any] = load_flow_from_entrypoint(str(ROOT / spec["entrypoint"]))
        schedule = spec["schedules"][0]
        cron = cron_override(spec) or schedule["cron"]
        deployments.append(
            flow.to_deployment(
                name=spec["name"],
                schedules=[Cron(cron, timezone=schedule.get("timezone", "UTC"))],
                parameters=spec.get("parameters", {}),
                tags=spec.get("tags", []),
                description=spec.get("description"),
            )
        )
    return deployments


if __name__ == "__main__":
    os.chdir(ROOT)  # the sample-data parameters are relative to the repository root
    sys.path.insert(0, str(ROOT))
    serve(*build_deployments())
