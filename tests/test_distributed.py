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

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from slack_alerts.testing import LocalWebhookServer

ROOT = Path(__file__).resolve().parent.parent
PREFECT = [sys.executable, "-m", "prefect"]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"

pytestmark = pytest.mark.slow
# CRITICAL alerts bypass the rate limit by design; keep the sample drift at WARNING
# so every alert of this test goes through the limit.
WARNING_ONLY = {"psi_critical": 10.0, "performance_critical_drop": 0.9}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _pg(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _fresh_database() -> tuple[str, str | None]:
    """(connection URL, database name to drop) — PostgreSQL when it answers."""
    name = f"slack_alerts_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no PostgreSQL here: say so, and use SQLite
        print(
            f"\nNOTE: no PostgreSQL on 127.0.0.1:5432 ({type(exc).__name__}); using SQLite instead"
        )
        db = Path(tempfile.mkdtemp()) / "prefect.db"
        return f"sqlite+aiosqlite:///{db}", None
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", name


class Processes:
    """Started processes, each in its own process group, stopped by PID."""

    def __init__(self) -> None:
        self.started: list[tuple[subprocess.Popen[str], Path]] = []

    def start(self, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[str]:
        handle = log.open("w")
        process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.started.append((process, log))
        return process

    def stop_all(self) -> None:
        for process, _ in reversed(self.started):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process, _ in self.started:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[dict[str, str]]:
    url, database = _fresh_database()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SLACK_"))}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_API_DATABASE_CONNECTION_URL=url,
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",  # runs are triggered by the test
        PREFECT_UI_ENABLED="false",
        PREFECT_LOCAL_STORAGE_PATH=str(tmp_path / "results"),
        SLACK_ALERTS_OUTBOX=str(tmp_path / "outbox"),
    )
    processes = Processes()
    server = processes.start(
        [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env,
        tmp_path / "server.log",
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                raise RuntimeError(
                    "prefect server exited:\n" + (tmp_path / "server.log").read_text()[-3000:]
                )
            try:
                if httpx.get(f"{env['PREFECT_API_URL']}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("prefect server did not become healthy in 120 s")
            time.sleep(0.5)
        env["_TEST_DATABASE"] = "postgresql" if database else "sqlite"
        yield env
    finally:
        processes.stop_all()
        if database:
            asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def _cli(args: list[str], env: dict[str, str], timeout: float = 180) -> str:
    done = subprocess.run(
        [*PREFECT, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (
        f"prefect {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )
    return done.stdout


def _python(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_rate_limit_holds_across_two_workers(
    prefect_server: dict[str, str], tmp_path: Path
) -> None:
    env = prefect_server
    print(f"\nPrefect server on {env['PREFECT_API_URL']} backed by {env['_TEST_DATABASE']}")
    rate_per_minute, burst, runs = 60, 2, 4
    model_id = f"dist-{uuid.uuid4().hex[:6]}"
    with LocalWebhookServer() as webhook:
        _cli(["work-pool", "create", "slack-alerts", "--type", "process"], env)
        settings = dict(
            rate_limit_per_minute=rate_per_minute, burst=burst, rate_limit_wait_seconds=3
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

        processes = Processes()
        try:
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
                    env,
                    tmp_path / f"{name}.log",
                )
            parameters = {"model_id": model_id, "webhook": "dist-hook", "thresholds": WARNING_ONLY}
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
        served = {name: _runs_taken(log) & set(ids) for name, log in logs.items()}
        assert sum(len(v) for v in served.values()) == runs
        assert all(served.values()), f"both workers must run flows: {served}"

        delivered = webhook.delivered()
        # 4 alerts per run (age, lactate, admission_type, auroc) for the same model.
        total_alerts = 4 * runs
        assert webhook.max_in_window(1.0) <= burst + 1
        span = max(r.at for r in delivered) - min(r.at for r in delivered) if delivered else 0.0
        assert len(delivered) <= burst + span * rate_per_minute / 60 + 1
        reported = sum(
            int(m.group(1))
            for p in webhook.payloads()
            for m in [re.search(r"(\d+) more alerts? suppressed", p["text"])]
            if m
        )
        pending = int(
            _python(
                "from flows.ledger import ServerSuppressionLedger\n"
                f"print(ServerSuppressionLedger().pending({model_id!r}))\n",
                env,
            )
            .strip()
            .splitlines()[-1]
        )
        assert len(delivered) + reported + pending == total_alerts
        print(
            f"two workers ({', '.join(f'{k}: {len(v)} runs' for k, v in served.items())}): "
            f"{len(delivered)} delivered, {reported} reported as suppressed, {pending} pending, "
            f"max {webhook.max_in_window(1.0)} in any second"
        )


def _runs_taken(worker_log: str) -> set[str]:
    """Runs a worker ran: it tried to submit them, and the server did not abort (the other won)."""
    tried = set(re.findall(r"submitting flow run '([0-9a-f-]{36})'", worker_log))
    lost = set(re.findall(r"Aborted submission of flow run '([0-9a-f-]{36})'", worker_log))
    return tried - lost


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
