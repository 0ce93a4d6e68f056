"""Serve the three flows of ``deployments/prefect.yaml`` in one process, without a work pool.

    prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api   # a running server
    python deployments/serve.py              # from the repository root

The schedules and parameters come from prefect.yaml, so there is one place
to change them; ``SLACK_ALERTS_<FLOW>_CRON`` (DRIFT, FAIRNESS, SECURITY)
overrides a schedule for this process.

The served deployments are named ``<name>-served`` (``drift-hourly-served``):
Prefect identifies a deployment by flow and name, so serving prefect.yaml's own
names would overwrite the work-pool deployments of ``prefect deploy`` (their
workers' next runs then crash looking for this process's temporary directory),
and stopping this process would pause them. With their own names, the two ways
of running never touch each other's deployments. Stopping this process pauses
only the ``-served`` schedules.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import yaml
from prefect import Flow, serve
from prefect.flows import load_flow_from_entrypoint
from prefect.schedules import Cron

ROOT = Path(__file__).resolve().parent.parent
PREFECT_YAML = ROOT / "deployments" / "prefect.yaml"
SERVED_SUFFIX = "-served"


def deployment_specs(path: Path = PREFECT_YAML) -> list[dict[str, Any]]:
    """The ``deployments`` entries of prefect.yaml."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    specs: list[dict[str, Any]] = document["deployments"]
    return specs


def served_name(spec: dict[str, Any]) -> str:
    """The name this process serves a prefect.yaml deployment under."""
    return f"{spec['name']}{SERVED_SUFFIX}"


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
                name=served_name(spec),
                schedules=[Cron(cron, timezone=schedule.get("timezone", "UTC"))],
                parameters=spec.get("parameters", {}),
                tags=spec.get("tags", []),
                description=spec.get("description"),
            )
        )
    return deployments


def main() -> int:
    os.chdir(ROOT)  # the sample-data parameters are relative to the repository root
    sys.path.insert(0, str(ROOT))
    from flows.server import ServerRequired, require_server

    try:
        # Scheduled runs are created by a server's scheduler; a temporary
        # server has none and is gone when this process ends.
        api_url = require_server("python deployments/serve.py")
    except ServerRequired as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    deployments = build_deployments()
    names = ", ".join(f"{d.flow_name}/{d.name}" for d in deployments)
    print(f"Serving {names} from {api_url}; Ctrl+C stops them (and pauses their schedules).")
    served = [f"{d.flow_name}/{d.name}" for d in deployments]
    default = signal.getsignal(signal.SIGINT)

    def on_ctrl_c(signum: int, frame: FrameType | None) -> None:
        # Pause first, then stop: Prefect's runner pauses only at the end of a clean
        # shutdown, which a busy machine may not reach before the process is killed.
        signal.signal(signal.SIGINT, default)  # a second Ctrl+C is Python's own
        pause_served(served)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        serve(*deployments)
    finally:
        pause_served(served)
    return 0


def pause_served(names: list[str]) -> None:
    """Pause the schedules of ``names``, ours only.

    Prefect's runner pauses them when it shuts down cleanly; a Ctrl+C that lands while it
    is still starting or polling can skip that, and the server would go on scheduling runs
    that nobody executes. Pausing twice is harmless.
    """
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for name in names:
            try:
                client.pause_deployment(client.read_deployment_by_name(name).id)
            except Exception as exc:  # shutting down: say it, never hide the real exit
                print(f"warning: could not pause {name} ({type(exc).__name__})", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
