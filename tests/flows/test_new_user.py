"""A new user's first hour, as the README writes it: a fresh PREFECT_HOME, the commands in order.

Every command runs as a subprocess with a fresh ``PREFECT_HOME`` and none of
the test session's ``PREFECT_*`` settings, like on a new machine. The deploy
section's commands are read from the README itself, so README and test cannot
drift apart; they run against a ``prefect server`` on PostgreSQL
(``LocalPrefectServer``, one for the module), and the test then looks on that
server for what the commands should have put there.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from flows.server import DEFAULT_SERVER_API
from flows.testing import LocalPrefectServer, ProcessGroup
from slack_alerts.testing import LocalWebhookServer
from tests.flows.test_distributed import SAMPLE_DRIFT

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent  # where `slack-alerts` and `prefect` are installed
DEPLOY_SECTION = "### Deploy to a Prefect server with workers"
POOL_DEPLOYMENTS = (
    "drift-monitoring/drift-hourly",
    "fairness-monitoring/fairness-daily",
    "security-monitoring/security-5min",
)

pytestmark = pytest.mark.slow


def fresh_env(home: Path) -> dict[str, str]:
    """A new user's shell: no Prefect or Slack settings, a Prefect home of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SLACK_"))}
    env.pop("DO_NOT_TRACK", None)
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PREFECT_HOME=str(home / "prefect-home"),
        # Only to keep the working tree clean: the demo's preview and undelivered alerts.
        SLACK_ALERTS_OUTBOX=str(home / "outbox"),
        SLACK_ALERTS_UNDELIVERED=str(home / "undelivered"),
    )
    return env


def run(
    args: list[str], env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def shown(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"


def stop(process: subprocess.Popen[str], sig: int = signal.SIGINT, grace: float = 60) -> None:
    """Stop one process we started (in its own session), as Ctrl+C would."""
    if process.poll() is None:
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


# -- the first hour without a server: make demo, then send-test -----------------------------


def test_first_demo_on_busy_cores_then_send_test(tmp_path: Path) -> None:
    env = fresh_env(tmp_path)
    # Prefect's own start-up budget for its temporary server, shrunk from 20 s to 1 s: the
    # stand-in for a machine slower than this one. The demo must not depend on it.
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "1"
    hogs = ProcessGroup(ROOT)
    try:
        for n in range(2):  # both cores busy
            hogs.start([sys.executable, "-c", "while True: pass"], env, tmp_path / f"hog{n}.log")
        started = time.perf_counter()
        done = run(["slack-alerts", "demo"], env, timeout=600)
        elapsed = time.perf_counter() - started
    finally:
        hogs.stop_all()
    out = done.stdout
    assert done.returncode == 0, shown(done)
    assert "first run: creating Prefect's local database" in out, out
    assert re.search(r"database: (\d+)/\1 migrations applied", out), out
    assert "[1/4] Prefect API: none configured, starting Prefect's local API" in out
    assert "Alerts: 8 critical, 6 warning, 0 info" in out
    assert (tmp_path / "outbox" / "index.html").exists() and "Preview:" in out
    assert (tmp_path / "prefect-home" / "prefect.db").exists()
    assert "Traceback" not in done.stdout + done.stderr, shown(done)
    print(f"\nfirst demo with both cores busy: {elapsed:.0f} s")

    # Next, "Point it at a real Slack channel" step 3 before any server runs: send-test reads
    # Prefect's local database through a temporary server. Its answer is one line that says
    # where it looked, not buried under that server's telemetry errors.
    done = run(["slack-alerts", "send-test", "--block", "ml-alerts"], env)
    assert done.returncode == 1, shown(done)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, shown(done)
    (line,) = errors
    assert "No Slack Alerts Webhook or Router block named 'ml-alerts'" in line
    assert "looked in Prefect's local database, because PREFECT_API_URL is not set" in line
    for noise in ("Traceback", "telemetry"):
        assert noise not in done.stdout + done.stderr, shown(done)


# -- server-side commands refuse a temporary server ----------------------------------------


@pytest.mark.parametrize(
    "command",
    ["slack-alerts register", "python deployments/serve.py"],  # as the README writes them
    ids=["register", "serve.py"],
)
def test_server_side_commands_refuse_without_api_url(tmp_path: Path, command: str) -> None:
    done = run(shlex.split(command), fresh_env(tmp_path), timeout=120)
    assert done.returncode == 1, shown(done)
    error = done.stderr
    assert "PREFECT_API_URL is not set" in error and "temporary server" in error, error
    assert f"prefect config set PREFECT_API_URL={DEFAULT_SERVER_API}" in error
    assert "prefect server start" in error
    # Refused before anything was written: no temporary server was started.
    assert "Starting temporary server" not in done.stdout + error
    assert "Traceback" not in error


# -- the README's deploy section against a real server ------------------------------------


def readme_deploy_commands() -> list[str]:
    """The deploy section's shell block, one command a line, comments removed."""
    section = README.read_text(encoding="utf-8").split(DEPLOY_SECTION, 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, f"no bash block under {DEPLOY_SECTION!r}"
    commands = []
    for line in block.group(1).splitlines():
        command = re.split(r"\s+#", line, maxsplit=1)[0].strip()
        if command:
            commands.append(command)
    return commands


@dataclass
class Deployed:
    """What the README's deploy section did, for the tests to look at."""

    api: str
    env: dict[str, str]
    webhook: LocalWebhookServer
    outputs: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)
    worker_log: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrefectServer]:
    with LocalPrefectServer(ROOT, tmp_path_factory.mktemp("server")) as running:
        yield running


@pytest.fixture(scope="module")
def deployed(
    server: LocalPrefectServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployed]:
    """Run the README's deploy section, command by command, as a new user would."""
    commands = readme_deploy_commands()
    # LocalPrefectServer runs this very command, on PostgreSQL and a free port.
    assert commands[0] == "prefect server start", commands
    api = server.env["PREFECT_API_URL"]
    home = tmp_path_factory.mktemp("user")
    processes = ProcessGroup(ROOT)
    with LocalWebhookServer() as webhook:
        result = Deployed(api=api, env=fresh_env(home), webhook=webhook)
        env = result.env
        try:
            for command in commands[1:]:
                args = shlex.split(command)
                if args[0] == "export":  # the user's own value: here, the local webhook
                    name, _, value = args[1].partition("=")
                    env[name] = webhook.url if name == "SLACK_WEBHOOK_URL" else value
                    continue
                # The README's server address, with this server's port.
                args = [arg.replace(DEFAULT_SERVER_API, api) for arg in args]
                if args[:3] == ["prefect", "worker", "start"]:  # runs until stopped
                    result.worker_log = home / "worker.log"
                    worker_env = env | {"PREFECT_WORKER_QUERY_SECONDS": "1"}
                    processes.start(args, worker_env, result.worker_log)
                    continue
                started = time.perf_counter()
                done = run(args, env)
                result.seconds[command] = time.perf_counter() - started
                assert done.returncode == 0, f"{command}\n{shown(done)}"
                result.outputs[command] = done
            yield result
        finally:
            processes.stop_all()


def api_get(api: str, path: str) -> Any:
    response = httpx.get(f"{api}{path}", timeout=10)
    assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
    return response.json()


def test_readme_deploy_section_fills_the_server(deployed: Deployed) -> None:
    api = deployed.api
    commands = readme_deploy_commands()
    # The commands a user types, in the order that works.
    order = [
        "prefect config set PREFECT_API_URL=",
        "slack-alerts register",
        "slack-alerts save-webhook ml-alerts",
        "prefect work-pool create slack-alerts",
        "prefect deploy --all",
        "prefect worker start --pool slack-alerts",
    ]
    positions = [next(i for i, c in enumerate(commands) if c.startswith(o)) for o in order]
    assert positions == sorted(positions), commands
    # prefect config set stored the URL in the user's profile; nothing else pointed there.
    assert "PREFECT_API_URL" not in deployed.env
    profiles = Path(deployed.env["PREFECT_HOME"]) / "profiles.toml"
    assert api in profiles.read_text(encoding="utf-8")
    for slug in ("slack-alerts-webhook", "slack-alerts-router"):
        assert api_get(api, f"/block_types/slug/{slug}")["slug"] == slug
    block = api_get(api, "/block_types/slug/slack-alerts-webhook/block_documents/name/ml-alerts")
    assert block["data"]["webhook_url"].startswith("*")  # saved, and masked
    assert api_get(api, "/work_pools/slack-alerts")["type"] == "process"
    for name in POOL_DEPLOYMENTS:
        deployment = api_get(api, f"/deployments/name/{name}")
        assert deployment["work_pool_name"] == "slack-alerts", deployment
    # send-test posted through the saved block, to "Slack".
    assert len(deployed.webhook.payloads()) == 1
    registered = deployed.outputs["slack-alerts register"].stdout
    assert f"on {api}" in registered
    for command, done in deployed.outputs.items():
        if command.startswith("slack-alerts"):
            assert "Traceback" not in done.stdout + done.stderr, f"{command}\n{shown(done)}"
    worker = _wait_for(lambda: _pool_workers(api), "a worker in the pool", 90)
    assert worker, deployed.worker_log and deployed.worker_log.read_text()[-3000:]
    print(
        "\nREADME deploy commands: "
        + ", ".join(f"{c.split()[1]} {s:.1f}s" for c, s in deployed.seconds.items())
    )


def _pool_workers(api: str) -> list[Any]:
    response = httpx.post(f"{api}/work_pools/slack-alerts/workers/filter", json={}, timeout=10)
    response.raise_for_status()
    workers: list[Any] = response.json()
    return workers


def _wait_for(probe: Any, what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"no {what} within {timeout:.0f} s")


# -- serve.py next to the work-pool deployments -------------------------------------------


def test_serve_py_leaves_the_work_pool_deployments_alone(
    deployed: Deployed, tmp_path: Path
) -> None:
    api, env = deployed.api, deployed.env
    before = {name: api_get(api, f"/deployments/name/{name}") for name in POOL_DEPLOYMENTS}
    processes = ProcessGroup(ROOT)
    log = tmp_path / "serve.log"
    serving = processes.start([sys.executable, "deployments/serve.py"], env, log)
    try:
        # Polling for runs (the server then marks them READY): Ctrl+C reaches a running runner.
        served = _wait_for(
            lambda: _served_deployments(api, status="READY"), "serve.py polling for runs", 120
        )
        assert sorted(d["name"] for d in served) == [
            "drift-hourly-served",
            "fairness-daily-served",
            "security-5min-served",
        ]
        stop(serving)  # Ctrl+C
    finally:
        processes.stop_all()
    assert serving.returncode is not None
    # What a worker runs from: unchanged, and still scheduled.
    kept = ("id", "work_pool_name", "work_queue_name", "path", "entrypoint", "pull_steps")
    kept += ("parameters", "paused")
    for name, old in before.items():
        now = api_get(api, f"/deployments/name/{name}")
        changed = {key: (old[key], now[key]) for key in kept if now[key] != old[key]}
        assert not changed, (name, changed, log.read_text()[-2000:])
        assert not now["paused"]
    # Stopping serve.py paused its own schedules, and only those.
    assert all(d["paused"] for d in _served_deployments(api)), log.read_text()[-2000:]

    # The worker started by the README still runs the work-pool deployment, with the saved
    # block: the run completes and its digest reaches "Slack".
    before_payloads = len(deployed.webhook.payloads())
    done = run(
        [
            "prefect",
            "deployment",
            "run",
            "drift-monitoring/drift-hourly",
            "--param",
            "webhook=ml-alerts",
            # The deployment reads a live table (a connector block): run it on the sample files.
            "--params",
            json.dumps(SAMPLE_DRIFT),
        ],
        env,
    )
    assert done.returncode == 0, shown(done)
    run_id = re.search(r"UUID: ([0-9a-f-]{36})", done.stdout)
    assert run_id, done.stdout
    state = _wait_for(lambda: _final_state(api, run_id.group(1)), "finished flow run", 240)
    worker_log = deployed.worker_log.read_text()[-3000:] if deployed.worker_log else ""
    assert state == "COMPLETED", worker_log
    assert len(deployed.webhook.payloads()) > before_payloads


def _served_deployments(api: str, status: str | None = None) -> list[Any]:
    """serve.py's three deployments (all with ``status``, when given), or []."""
    response = httpx.post(
        f"{api}/deployments/filter",
        json={"deployments": {"name": {"like_": "-served"}}},
        timeout=10,
    )
    response.raise_for_status()
    found: list[Any] = [d for d in response.json() if d["name"].endswith("-served")]
    if len(found) != 3 or (status and any(d["status"] != status for d in found)):
        return []
    return found


def _final_state(api: str, run_id: str) -> str | None:
    state = (api_get(api, f"/flow_runs/{run_id}").get("state") or {}).get("type")
    return state if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None
