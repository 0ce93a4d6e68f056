"""A 20-model fleet through `slack-alerts fleet deploy`, a Prefect server on PostgreSQL and
two process workers.

The fleet's rows live in one PostgreSQL table (a fresh database); one model
drifts in the slot's hour and one reads a table that does not exist. The
drift run of one slot fans out into two shard runs: the test checks that
the two workers each ran one, that every model was checked exactly once
(task runs counted on the server), that the broken model's "monitor failed"
alert and the drifting model's alert reached the webhook, and that a
re-deploy leaves unchanged deployments alone and removes a schedule no model
uses any more.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from flows.testing import (
    PREFECT,
    LocalPrefectServer,
    ProcessGroup,
    run_checked,
    runs_taken,
    wait_for_workers,
)
from slack_alerts.fleet import read_fleet, run_check
from slack_alerts.testing import LocalWebhookServer, fleet_inference_log

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

SLOT = "2026-03-02T10:00:00+00:00"
MODELS = [f"m{i:02d}" for i in range(20)]
DRIFTING, BROKEN = "m07", "m13"

FLEET = """\
name: dist
defaults:
  route: fleet-hook
  checks: {{drift: "0 * * * *"{extra}}}
  source:
    kind: sql
    url: "{url}"
    query: "SELECT * FROM inference_log WHERE model_id = '{{id}}' AND ts >= :start AND ts < :end"
    timestamp_column: ts
  features: [f00, f01, f02]
  score_column: score
  label_column: label
  current: last 1 hour
  reference: previous 1 hour
groups:
  broken:
    source: {{table: no_such_table, query: null}}
models:
{models}
"""


def _fleet_text(url: str, extra: str = "") -> str:
    lines = [f"  - {{id: {m}{', group: broken' if m == BROKEN else ''}}}" for m in MODELS]
    return FLEET.format(url=url, extra=extra, models="\n".join(lines))


@pytest.fixture(scope="module")
def fleet_table(postgres_url: str) -> str:
    log = fleet_inference_log(MODELS, SLOT, 2, 120, 3, drifted=[DRIFTING], seed=3)
    engine = sa.create_engine(postgres_url)
    log.to_sql("inference_log", engine, index=False, chunksize=5_000)
    engine.dispose()
    return postgres_url


@pytest.fixture
def prefect_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    with LocalPrefectServer(ROOT, tmp_path) as server:
        yield server.env


def _slack_alerts(args: list[str], env: dict[str, str]) -> str:
    return run_checked([sys.executable, "-m", "flows.cli", *args], env, ROOT, timeout=240)


def test_fleet_of_20_models_on_two_workers(
    fleet_table: str, prefect_env: dict[str, str], tmp_path: Path
) -> None:
    env = prefect_env
    fleet_file = tmp_path / "fleet.yaml"
    with LocalWebhookServer() as webhook:
        run_checked(
            [*PREFECT, "work-pool", "create", "slack-alerts", "--type", "process"], env, ROOT
        )
        save_block = (
            "from blocks import SlackAlertsWebhook\n"
            f"SlackAlertsWebhook(webhook_url={webhook.url!r}).save('fleet-hook', overwrite=True)\n"
        )
        run_checked([sys.executable, "-c", save_block], env, ROOT)
        # A first file also checks data health; the second drops it: its deployment goes.
        fleet_file.write_text(_fleet_text(fleet_table, ', data_health: "30 * * * *"'))
        deploy = ["fleet", "deploy", str(fleet_file), "--shards", "2", "--shard-queue", "shards"]
        first = _slack_alerts(deploy, env)
        assert "3 created, 0 updated, 0 unchanged, 0 removed" in first, first
        fleet_file.write_text(_fleet_text(fleet_table))
        second = _slack_alerts(deploy, env)
        assert "0 created, 0 updated, 2 unchanged, 1 removed" in second, second
        removed = [line for line in second.splitlines() if line.strip().startswith("removed")]
        assert len(removed) == 1 and "data-health" in removed[0], second
        drift_name = next(
            line.split()[-1] for line in second.splitlines() if "fleet-check/" in line
        )

        processes = ProcessGroup(ROOT)
        try:
            worker_env = env | {"PREFECT_WORKER_QUERY_SECONDS": "1"}
            # The fleet run waits on its own queue; one shard slot per shard worker, so
            # each takes one shard.
            for name, queue, limit in (
                ("worker-runs", "default", "1"),
                ("worker-a", "shards", "1"),
                ("worker-b", "shards", "1"),
            ):
                processes.start(
                    [
                        *PREFECT,
                        "worker",
                        "start",
                        "--pool",
                        "slack-alerts",
                        "--name",
                        name,
                        "--work-queue",
                        queue,
                        "--limit",
                        limit,
                        "--type",
                        "process",
                    ],
                    worker_env,
                    tmp_path / f"{name}.log",
                )
            wait_for_workers(tmp_path, ("worker-runs", "worker-a", "worker-b"))
            # Starting three flow-run processes takes minutes on a loaded 2-core machine.
            parent = run_checked(
                [
                    sys.executable,
                    "-c",
                    "from datetime import datetime\n"
                    "from prefect.deployments import run_deployment\n"
                    f"run = run_deployment({drift_name!r}, timeout=600, poll_interval=2,\n"
                    f"    scheduled_time=datetime.fromisoformat({SLOT!r}))\n"
                    "print(run.id, run.state.type.value)\n",
                ],
                env,
                ROOT,
                timeout=660,
            ).split()[-2:]
        finally:
            processes.stop_all()
        logs = {n: (tmp_path / f"{n}.log").read_text() for n in ("worker-a", "worker-b")}
        logs["worker-runs"] = (tmp_path / "worker-runs.log").read_text()
        assert parent[1] == "COMPLETED", (parent, {k: v[-3000:] for k, v in logs.items()})

        api = env["PREFECT_API_URL"]
        children = httpx.post(
            f"{api}/flow_runs/filter",
            json={"flow_runs": {"parent_flow_run_id": {"any_": [parent[0]]}}},
            timeout=30,
        ).json()
        shard_runs = [r for r in children if r["parameters"].get("shard_index") is not None]
        assert len(shard_runs) == 2, children
        assert {r["state_type"] for r in shard_runs} == {"COMPLETED"}
        assert {r["parameters"]["at"] for r in shard_runs} == {SLOT}
        served = {n: runs_taken(log) & {r["id"] for r in shard_runs} for n, log in logs.items()}
        assert len(served["worker-a"]) == len(served["worker-b"]) == 1, served

        # Every model's check ran exactly once in the slot: its task runs, on the server.
        tasks = httpx.post(
            f"{api}/task_runs/filter",
            json={"flow_runs": {"id": {"any_": [r["id"] for r in shard_runs]}}, "limit": 200},
            timeout=30,
        ).json()
        checked = Counter(t["name"] for t in tasks if t["name"].startswith("drift-"))
        assert checked == Counter({f"drift-{m}": 1 for m in MODELS}), checked

        artifacts = httpx.post(
            f"{api}/artifacts/filter",
            json={"artifacts": {"flow_run_id": {"any_": [parent[0]]}, "type": {"any_": ["table"]}}},
            timeout=30,
        ).json()
        rows = {r["model_id"]: r for r in json.loads(artifacts[0]["data"])}
        assert sorted(rows) == MODELS
        assert rows[BROKEN]["status"] == "failed" and "no_such_table" in rows[BROKEN]["detail"]
        # The distributed verdicts are the in-process ones (same data, same slot).
        fleet = read_fleet(fleet_file)
        slot = datetime.fromisoformat(SLOT)
        expected = {
            m.id: "alerting" if run_check("drift", m.config, slot).alerts else "ok"
            for m in fleet.models
            if m.id != BROKEN
        }
        assert expected[DRIFTING] == "alerting"
        assert {m: rows[m]["status"] for m in expected} == expected
        assert {r["shard"] for r in rows.values()} == {0, 1}
        assert all(rows[m]["rows_read"] == 240 for m in MODELS if m != BROKEN)

        texts = [p.get("text", "") + json.dumps(p.get("blocks", [])) for p in webhook.payloads()]
        assert any(BROKEN in t and "failed" in t.lower() for t in texts), texts
        assert any(DRIFTING in t for t in texts), texts
        healthy = [m for m, status in expected.items() if status == "ok"]
        mentioned = {m for m in healthy for t in texts if re.search(rf"\b{m}\b", t)}
        assert not mentioned, texts
