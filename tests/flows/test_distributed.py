"""The production topology: a Prefect server on PostgreSQL, a process work pool, two workers.

Starts ``prefect server start`` on a free port (a fresh PostgreSQL database
per run; SQLite, said out loud, only where no PostgreSQL answers), deploys
deployments/prefect.yaml with ``prefect deploy --all``, starts two workers,
runs the drift deployment for one model from both, and checks at a local
webhook server that the per-model rate limit held across the workers and
that every alert was delivered or counted. Every process it starts is
stopped by PID.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flows.testing import (
    PREFECT,
    LocalPrefectServer,
    ProcessGroup,
    run_checked,
    runs_taken,
    wait_for_workers,
)
from slack_alerts.testing import LocalWebhookServer

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow
# CRITICAL alerts bypass the rate limit by design; keep the sample drift at WARNING
# so every alert of this test goes through the limit.
WARNING_ONLY = {"psi_critical": 10.0, "performance_critical_drop": 0.9}
SAMPLE_DRIFT = {
    "live": None,
    "reference": "data/sample/reference.csv",
    "current": "data/sample/current.csv",
    "baseline_metrics": {"auroc": 0.86, "accuracy": 0.81},
    "current_metrics": {"auroc": 0.78, "accuracy": 0.80},
}


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[dict[str, str]]:
    with LocalPrefectServer(ROOT, tmp_path) as server:
        yield server.env | {"_TEST_DATABASE": server.backend}


def _cli(args: list[str], env: dict[str, str], timeout: float = 180) -> str:
    return run_checked([*PREFECT, *args], env, ROOT, timeout)


def _python(code: str, env: dict[str, str]) -> str:
    return run_checked([sys.executable, "-c", code], env, ROOT)


def test_rate_limit_holds_across_two_workers(
    prefect_server: dict[str, str], tmp_path: Path
) -> None:
    env = prefect_server
    print(f"\nPrefect server on {env['PREFECT_API_URL']} backed by {env['_TEST_DATABASE']}")
    rate_per_minute, burst, runs = 60, 2, 4
    model_id = f"dist-{uuid.uuid4().hex[:6]}"
    with LocalWebhookServer() as webhook:
        _cli(["work-pool", "create", "slack-alerts", "--type", "process"], env)
        # repeat_interval 0: every run's digest is sent (no dedup), so the rate limit is exercised.
        settings = dict(
            rate_limit_per_minute=rate_per_minute,
            burst=burst,
            rate_limit_wait_seconds=3,
            repeat_interval_seconds=0,
        )
        _python(
            "from blocks import SlackAlertsWebhook\n"
            f"SlackAlertsWebhook(webhook_url={webhook.url!r}, **{settings!r})"
            ".save('dist-hook', overwrite=True)\n",
            env,
        )
        deployed = _cli(
            ["deploy", "--all", "--prefect-file", "deployments/prefect.yaml"], env, timeout=300
        )
        assert "drift-monitoring/drift-hourly" in deployed

        processes = ProcessGroup(ROOT)
        try:
            # Poll every second, so neither worker finishes its runs before the other looks.
            worker_env = env | {"PREFECT_WORKER_QUERY_SECONDS": "1"}
            for name in ("worker-a", "worker-b"):
                processes.start(
                    [
                        *PREFECT,
                        "worker",
                        "start",
                        "--pool",
                        "slack-alerts",
                        "--name",
                        name,
                        "--limit",
                        "2",
                        "--type",
                        "process",
                    ],
                    worker_env,
                    tmp_path / f"{name}.log",
                )
            wait_for_workers(tmp_path, ("worker-a", "worker-b"))
            parameters = {"model_id": model_id, "webhook": "dist-hook", "thresholds": WARNING_ONLY}
            parameters |= SAMPLE_DRIFT  # the deployment reads a live source: run on the files
            ids = json.loads(
                _python(
                    "import json\n"
                    "from prefect.deployments import run_deployment\n"
                    f"parameters = {parameters!r}\n"
                    "ids = [str(run_deployment('drift-monitoring/drift-hourly', timeout=0,"
                    f" parameters=parameters).id) for _ in range({runs})]\n"
                    "print(json.dumps(ids))\n",
                    env,
                )
                .strip()
                .splitlines()[-1]
            )
            states = _wait_for_runs(ids, env, timeout=300)
        finally:
            processes.stop_all()
        logs = {name: (tmp_path / f"{name}.log").read_text() for name in ("worker-a", "worker-b")}
        assert set(states.values()) == {"COMPLETED"}, (
            states,
            {k: v[-2000:] for k, v in logs.items()},
        )
        served = {name: runs_taken(log) & set(ids) for name, log in logs.items()}
        assert sum(len(v) for v in served.values()) == runs
        assert all(served.values()), f"both workers must run flows: {served}"

        delivered = webhook.delivered()
        # Each run: one digest of 4 alerts (age, lactate, admission_type, auroc), same model.
        total_alerts = 4 * runs
        assert all("4 alerts for" in p["text"] for p in webhook.payloads())
        assert webhook.max_in_window(1.0) <= burst + 1
        span = max(r.at for r in delivered) - min(r.at for r in delivered) if delivered else 0.0
        assert len(delivered) <= burst + span * rate_per_minute / 60 + 1
        reported = webhook.reported_suppressed()
        pending = int(
            _python(
                "from flows.backend.controlplane import ControlPlane\n"
                "from flows.backend.state import PrefectStateStore\n"
                "store = PrefectStateStore(ControlPlane())\n"
                f"print(store.pending_suppressed('block:dist-hook', {model_id!r}))\n",
                env,
            )
            .strip()
            .splitlines()[-1]
        )
        assert 4 * len(delivered) + reported + pending == total_alerts
        print(
            f"two workers ({', '.join(f'{k}: {len(v)} runs' for k, v in served.items())}): "
            f"{len(delivered)} digests delivered, {reported} alerts reported as suppressed, "
            f"{pending} pending, "
            f"max {webhook.max_in_window(1.0)} in any second"
        )


def _wait_for_runs(ids: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    api = env["PREFECT_API_URL"]
    states: dict[str, Any] = {}
    while time.monotonic() < deadline:
        for run_id in ids:
            run = httpx.get(f"{api}/flow_runs/{run_id}", timeout=10).json()
            states[run_id] = (run.get("state") or {}).get("type")
        if all(s in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") for s in states.values()):
            return states
        time.sleep(2)
    return states
