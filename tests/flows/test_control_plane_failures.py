"""Nothing lost when parts fail, against real processes: a Prefect server on PostgreSQL,
a TCP proxy in front of it that we break, workers that we kill.

- the API stops, or hangs, after 5 of 20 alerts: every send task still ends in
  a state, in bounded time, and every alert is delivered or in the outbox;
- a worker killed mid-send frees its model's lock within a lease (60 s), and
  the next run for that model gets it;
- a secret echoed by an error page is nowhere: process output, result
  storage, both outboxes, and a dump of the Prefect database.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flows.testing import LocalPrefectServer, TcpProxy
from slack_alerts import DurableOutbox
from slack_alerts.testing import LocalWebhookServer, ScriptedResponse

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrefectServer]:
    with LocalPrefectServer(ROOT, tmp_path_factory.mktemp("prefect")) as prefect_server:
        yield prefect_server


@pytest.fixture(scope="module")
def proxy(server: LocalPrefectServer) -> Iterator[TcpProxy]:
    port = int(server.env["PREFECT_API_URL"].rsplit(":", 1)[1].split("/")[0])
    front = TcpProxy(port)
    yield front
    front.close()


def env_for(server: LocalPrefectServer, proxy: TcpProxy, workdir: Path) -> dict[str, str]:
    return server.env | {
        "PREFECT_API_URL": f"http://127.0.0.1:{proxy.port}/api",
        "SLACK_ALERTS_CONTROL_TIMEOUT_SECONDS": "3",
        "SLACK_ALERTS_UNDELIVERED": str(workdir / "undelivered"),
        "SLACK_ALERTS_OUTBOX": str(workdir / "outbox"),
        "PREFECT_LOCAL_STORAGE_PATH": str(workdir / "results"),
    }


class Process:
    """A subprocess whose output lines are collected as they come."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.flows.control_plane_sender", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, predicate: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.lines):
                return True
            if self.process.poll() is not None and not predicate(self.lines):
                time.sleep(0.5)  # let the reader catch the last lines
                return bool(predicate(self.lines))
            time.sleep(0.1)
        return False

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


def states(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("STATE ")]


@pytest.mark.parametrize("failure", ["down", "blackhole"])
def test_the_api_failing_mid_run_loses_nothing(
    failure: str, server: LocalPrefectServer, proxy: TcpProxy, tmp_path: Path
) -> None:
    model = f"cp-{uuid.uuid4().hex[:6]}"
    with LocalWebhookServer() as webhook:
        sender = Process(["sends", webhook.url, model, "20"], env_for(server, proxy, tmp_path))
        try:
            assert sender.wait_for(lambda lines: len(states(lines)) >= 5, 180), sender.output
            proxy.set_mode(failure)
            broke = time.monotonic()
            done = sender.wait_for(lambda lines: len(states(lines)) >= 20, 240)
            elapsed = time.monotonic() - broke
        finally:
            proxy.set_mode("forward")
            sender.kill()
        assert done, sender.output[-4000:]
        assert "ConcurrencySlotAcquisitionError" not in sender.output
        delivered = {p["text"].split(":")[1].split()[0] for p in webhook.payloads()}
    kept = {
        alert["metric"]
        for record in DurableOutbox(tmp_path / "undelivered").pending()
        for alert in record.alerts
    }
    missing = {f"m{i}" for i in range(20)} - delivered - kept
    assert missing == set(), (missing, sender.output[-3000:])
    # Bounded: 15 alerts after the break, with a 3 s bound per control-plane call.
    assert elapsed < 150, elapsed
    print(
        f"\nAPI {failure} after 5 of 20: {len(delivered)} delivered, {len(kept)} kept, "
        f"{elapsed:.1f}s for the last 15"
    )


def _lock_holders(api: str, model: str) -> list[dict[str, Any]]:
    response = httpx.post(f"{api}/v2/concurrency_limits/filter", json={"limit": 200}, timeout=10)
    return [
        limit
        for limit in response.json()
        if limit["name"].startswith(f"slack-alerts-lock-{model}-") and limit["active_slots"] > 0
    ]


def test_a_killed_worker_frees_the_model_within_a_lease(
    server: LocalPrefectServer, proxy: TcpProxy, tmp_path: Path
) -> None:
    model = f"crash-{uuid.uuid4().hex[:6]}"
    api = server.env["PREFECT_API_URL"]
    with LocalWebhookServer() as webhook:
        webhook.script([ScriptedResponse(delay_seconds=300)])  # the first post hangs
        holder = Process(["hold", webhook.url, model], env_for(server, proxy, tmp_path / "a"))
        try:
            deadline = time.monotonic() + 120
            while not _lock_holders(api, model) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert _lock_holders(api, model), holder.output
            time.sleep(1)
        finally:
            holder.kill()  # mid-send, holding the lock and its lease
        killed = time.monotonic()
        waiter = Process(["one", webhook.url, model], env_for(server, proxy, tmp_path / "b"))
        try:
            assert waiter.wait_for(
                lambda lines: any(line.startswith("OUTCOME") for line in lines), 180
            ), waiter.output[-3000:]
        finally:
            waiter.kill()
        waited = time.monotonic() - killed
        outcome = next(line for line in waiter.lines if line.startswith("OUTCOME")).split()
        assert outcome[1] == "sent", waiter.output[-3000:]
        # Freed by the lease (60 s, expired by the server within 15 s more), well
        # inside the waiter's 120 s budget; Prefect's default lease was 300 s.
        assert waited < 110, waited
        assert any("locked" in str(p) for p in webhook.payloads())
    # The killed worker's alert is still in its own outbox, for replay (dedup there).
    assert len(DurableOutbox(tmp_path / "a" / "undelivered").pending()) == 1
    print(f"\nkilled holder: the next run got the model's lock after {waited:.1f}s")


def test_a_secret_echoed_by_an_error_page_is_nowhere(
    server: LocalPrefectServer, proxy: TcpProxy, tmp_path: Path
) -> None:
    canary = "CANARY" + uuid.uuid4().hex
    with LocalWebhookServer(secret=canary) as webhook:
        webhook.default = ScriptedResponse(500, f"<h1>Cannot POST {webhook.path}</h1>")
        env = env_for(server, proxy, tmp_path)
        sender = Process(["sends", webhook.url, f"canary-{canary[-6:]}", "1"], env)
        assert sender.wait_for(lambda lines: len(states(lines)) >= 1, 180), sender.output
        sender.process.wait(timeout=120)
        assert len(webhook.requests) == 4  # 1 + 3 Prefect retries, all answered 500
    assert server.database is not None
    dump = subprocess.run(
        ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", server.database],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    written = "\n".join(
        path.read_text(errors="replace") for path in tmp_path.rglob("*") if path.is_file()
    )
    sinks = {"process output": sender.output, "files written": written, "prefect database": dump}
    assert "task_run" in dump and "http_500" in dump  # the failure did reach the server
    assert json.dumps({k: canary in v for k, v in sinks.items()}) == json.dumps(
        dict.fromkeys(sinks, False)
    )
