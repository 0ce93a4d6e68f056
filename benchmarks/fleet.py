"""Fleet benchmark: one hourly slot of N models on a Prefect server on PostgreSQL, process workers.

    make bench-fleet                                  # 1,000 models (loads the table once)
    python benchmarks/fleet.py --models 200           # a smaller fleet

The table ``bench_fleet_<models>`` (``model_id`` text, ``ts`` timestamptz,
20 float features, a score, a label; index on ``(model_id, ts)``) lives in
the database ``slack_alerts_bench`` and is kept between runs (COPY if
missing). Each model has 10,000 rows: 5,000 in the reference hour and 5,000
in the slot's hour, which the drift check reads (current "last 1 hour",
reference "previous 1 hour"). 2% of the models drift.

Measured:

1. wall time of the slot's ``fleet-check`` run, from its start to its end,
   with 1 and with 2 shard workers (``fleet deploy --shards N``; one
   process worker per shard, plus one for the waiting fleet run), and the
   speed-up; peak RSS of every flow-run process (``VmHWM``);
2. in-process profile of one shard of ``--profile-models`` models against
   the same server: reading and statistics timed by direct calls to the
   source and ``feature_drift``; every HTTP request to the Prefect API and
   to the webhook (the Slack stand-in: a local server) counted and timed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.live import URL, ensure_database  # noqa: E402
from flows.testing import PREFECT, LocalPrefectServer, ProcessGroup, run_checked  # noqa: E402
from slack_alerts.testing import LocalWebhookServer, fleet_inference_log  # noqa: E402

SLOT = datetime(2026, 2, 2, 12, tzinfo=UTC)
ROWS_PER_HOUR = 5_000
FEATURES = 20
BATCH = 25  # models generated and copied at a time


def ensure_table(engine: sa.Engine, models: int) -> str:
    """``bench_fleet_<models>``, created with COPY unless complete."""
    name = f"bench_fleet_{models}"
    expected = models * 2 * ROWS_PER_HOUR
    with engine.connect() as connection:
        try:
            count = connection.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar()  # noqa: S608
        except sa.exc.ProgrammingError:
            count = None
    if count == expected:
        return name
    print(f"loading {name} ({expected:,} rows) with COPY...", flush=True)
    started = time.perf_counter()
    columns = ", ".join(f"f{i:02d} double precision" for i in range(FEATURES))
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        connection.execute(
            sa.text(
                f"CREATE TABLE {name} (model_id text, ts timestamptz, {columns}, "
                "score double precision, label integer)"
            )
        )
    ids = [f"model-{i:04d}" for i in range(models)]
    drifted = ids[::50]  # 2% of the fleet
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for start in range(0, models, BATCH):
            batch = ids[start : start + BATCH]
            frame = fleet_inference_log(
                batch, SLOT, 2, ROWS_PER_HOUR, FEATURES, drifted=drifted, seed=start
            )
            buffer = io.StringIO()
            frame.to_csv(buffer, index=False, header=False)
            with cursor.copy(f"COPY {name} FROM STDIN (FORMAT csv)") as copy:
                copy.write(buffer.getvalue())
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as connection:
        connection.execute(sa.text(f"CREATE INDEX ON {name} (model_id, ts)"))
        connection.execute(sa.text(f"ANALYZE {name}"))
    print(f"loaded in {time.perf_counter() - started:.0f}s", flush=True)
    return name


def fleet_text(table: str, models: int) -> str:
    features = ", ".join(f"f{i:02d}" for i in range(FEATURES))
    lines = [
        "name: bench",
        "defaults:",
        "  route: bench-hook",
        '  checks: {drift: "0 * * * *"}',
        "  source:",
        "    kind: sql",
        f'    url: "{URL}"',
        f"    query: \"SELECT * FROM {table} WHERE model_id = '{{id}}' "  # noqa: S608
        'AND ts >= :start AND ts < :end"',
        "    timestamp_column: ts",
        f"  features: [{features}]",
        "  score_column: score",
        "  label_column: label",
        "  current: last 1 hour",
        "  reference: previous 1 hour",
        "models:",
        *[f"  - {{id: model-{i:04d}}}" for i in range(models)],
    ]
    return "\n".join(lines) + "\n"


def _run(args: list[str], env: dict[str, str], timeout: float = 900) -> str:
    return run_checked(args, env, ROOT, timeout)


class PeakMemory:
    """Peak RSS (VmHWM) of every flow-run process, sampled from /proc."""

    def __init__(self) -> None:
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                with contextlib.suppress(OSError):
                    if b"prefect.engine" not in (entry / "cmdline").read_bytes():
                        continue
                    for line in (entry / "status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            kib = int(line.split()[1])
                            pid = int(entry.name)
                            self.peaks[pid] = max(self.peaks.get(pid, 0), kib)
            self._stop.wait(0.5)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def wall_time(env: dict[str, str], fleet_file: Path, shards: int, workdir: Path) -> dict[str, Any]:
    """Deploy with ``shards``, start the workers, run the slot once; times from the server."""
    deployed = _run(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "fleet",
            "deploy",
            str(fleet_file),
            "--shards",
            str(shards),
            "--shard-queue",
            "shards",
        ],
        env,
    )
    name = next(line.split()[-1] for line in deployed.splitlines() if "fleet-check/" in line)
    processes = ProcessGroup(ROOT)
    worker_env = env | {"PREFECT_WORKER_QUERY_SECONDS": "1"}
    workers = [("runs", "default")] + [(f"shard-{i}", "shards") for i in range(shards)]
    try:
        for worker, queue in workers:
            processes.start(
                [
                    *PREFECT,
                    "worker",
                    "start",
                    "--pool",
                    "slack-alerts",
                    "--name",
                    worker,
                    "--work-queue",
                    queue,
                    "--limit",
                    "1",
                    "--type",
                    "process",
                ],
                worker_env,
                workdir / f"worker-{worker}-{shards}.log",
            )
        time.sleep(5)
        with PeakMemory() as memory:
            output = _run(
                [
                    sys.executable,
                    "-c",
                    "from datetime import datetime\n"
                    "from prefect.deployments import run_deployment\n"
                    f"run = run_deployment({name!r}, timeout=3600, poll_interval=2, "
                    f"scheduled_time=datetime.fromisoformat({SLOT.isoformat()!r}))\n"
                    "print(run.id, run.state.type.value)\n",
                ],
                env,
                timeout=3700,
            )
    finally:
        processes.stop_all()
    run_id, state = output.split()[-2:]
    api = env["PREFECT_API_URL"]
    parent = httpx.get(f"{api}/flow_runs/{run_id}", timeout=30).json()
    children = httpx.post(
        f"{api}/flow_runs/filter",
        json={"flow_runs": {"parent_flow_run_id": {"any_": [run_id]}}},
        timeout=30,
    ).json()
    shard_runs = [c for c in children if c["parameters"].get("shard_index") is not None]

    def seconds(run: dict[str, Any]) -> float:
        start = datetime.fromisoformat(run["start_time"])
        end = datetime.fromisoformat(run["end_time"])
        return (end - start).total_seconds()

    return {
        "shards": shards,
        "state": state,
        "wall_seconds": round(seconds(parent), 1),
        "shard_seconds": sorted(round(seconds(c), 1) for c in shard_runs),
        "peak_rss_mib": sorted(round(v / 1024) for v in memory.peaks.values()),
    }


@contextlib.contextmanager
def counted_requests(api_url: str, webhook_url: str) -> Iterator[dict[str, Any]]:
    """Every HTTP request of this process to the Prefect API / the webhook: count and time."""
    totals: dict[str, Any] = {"prefect": [0, 0.0], "slack": [0, 0.0], "paths": {}}
    originals = (httpx.Client.send, httpx.AsyncClient.send)
    lock = threading.Lock()

    def note(request: httpx.Request, elapsed: float) -> None:
        url = str(request.url)
        kind = (
            "prefect"
            if url.startswith(api_url)
            else "slack"
            if url.startswith(webhook_url)
            else None
        )
        if kind is None:
            return
        with lock:
            totals[kind][0] += 1
            totals[kind][1] += elapsed
            if kind == "prefect":
                path = request.method + " " + url[len(api_url) :].split("?")[0]
                path = "/".join(
                    "{id}" if len(p) == 36 and p.count("-") == 4 else p for p in path.split("/")
                )
                totals["paths"][path] = totals["paths"].get(path, 0) + 1

    def send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        started = time.perf_counter()
        try:
            return originals[0](self, request, **kwargs)
        finally:
            note(request, time.perf_counter() - started)

    async def asend(
        self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any
    ) -> httpx.Response:
        started = time.perf_counter()
        try:
            return await originals[1](self, request, **kwargs)
        finally:
            note(request, time.perf_counter() - started)

    httpx.Client.send = send  # type: ignore[method-assign]
    httpx.AsyncClient.send = asend  # type: ignore[method-assign]
    try:
        yield totals
    finally:
        httpx.Client.send, httpx.AsyncClient.send = originals  # type: ignore[method-assign]


def profile(env: dict[str, str], fleet_file: Path, models: int, webhook_url: str) -> dict[str, Any]:
    """One shard of ``models`` models run in this process, everything counted."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    for key, value in env.items():
        if key.startswith("SLACK_"):
            os.environ[key] = value  # the outboxes of the server's workdir

    from flows.fleet import fleet_shard_flow
    from slack_alerts.checks.drift import feature_drift
    from slack_alerts.fleet import read_fleet

    fleet = read_fleet(fleet_file)
    sample = fleet.models[:models]
    read = stats = 0.0
    for model in sample:
        config = model.config
        current, reference = config.windows(SLOT)
        started = time.perf_counter()
        names = [*config.feature_columns(), config.timestamp_column]
        cur = config.source.read_window(current, names, row_cap=config.row_cap, seed=config.seed)
        ref = config.source.read_window(reference, names, row_cap=config.row_cap, seed=config.seed)
        read += time.perf_counter() - started
        started = time.perf_counter()
        features = config.feature_columns()
        feature_drift(ref.frame[features], cur.frame[features], config.drift, kinds=cur.kinds)
        stats += time.perf_counter() - started
    # a fleet of exactly these models: shard 0 of 1 over a file that lists only them
    small = fleet_file.with_name("profile.yaml")
    text = fleet_file.read_text().split("models:\n")[0] + "models:\n"
    small.write_text(text + "".join(f"  - {{id: {m.id}}}\n" for m in sample))
    api = env["PREFECT_API_URL"]
    with (
        temporary_settings(updates={PREFECT_API_URL: api}),
        counted_requests(api, webhook_url) as totals,
    ):
        started = time.perf_counter()
        fleet_shard_flow(str(small), "drift", "0 * * * *", 0, 1, SLOT.isoformat(), 4)
        wall = time.perf_counter() - started
    return {
        "models": models,
        "read_seconds_per_model": round(read / models, 4),
        "stats_seconds_per_model": round(stats / models, 4),
        "shard_wall_seconds": round(wall, 2),
        "prefect_requests": totals["prefect"][0],
        "prefect_requests_per_model": round(totals["prefect"][0] / models, 2),
        "prefect_request_seconds": round(totals["prefect"][1], 2),
        "slack_requests": totals["slack"][0],
        "slack_seconds": round(totals["slack"][1], 2),
        "top_paths": sorted(totals["paths"].items(), key=lambda kv: -kv[1])[:8],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--profile-models", type=int, default=100)
    parser.add_argument("--workers", default="1,2", help="shard counts to time, e.g. 1,2")
    args = parser.parse_args()
    engine = ensure_database()
    table = ensure_table(engine, args.models)
    workdir = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    fleet_file = workdir / "fleet.yaml"
    fleet_file.write_text(fleet_text(table, args.models))
    results: dict[str, Any] = {
        "models": args.models,
        "rows_per_model": 2 * ROWS_PER_HOUR,
        "features": FEATURES,
        "cores": os.cpu_count(),
    }
    with LocalPrefectServer(ROOT, workdir) as server, LocalWebhookServer() as webhook:
        env = server.env
        results["prefect_database"] = server.backend
        _run([*PREFECT, "work-pool", "create", "slack-alerts", "--type", "process"], env)
        _run(
            [
                sys.executable,
                "-c",
                "from blocks import SlackAlertsWebhook\n"
                f"SlackAlertsWebhook(webhook_url={webhook.url!r})"
                ".save('bench-hook', overwrite=True)\n",
            ],
            env,
        )
        results["profile"] = profile(env, fleet_file, args.profile_models, webhook.url)
        print(json.dumps(results["profile"]), flush=True)
        runs = []
        for shards in (int(s) for s in args.workers.split(",")):
            runs.append(wall_time(env, fleet_file, shards, workdir))
            print(json.dumps(runs[-1]), flush=True)
        results["runs"] = runs
    walls = {r["shards"]: r["wall_seconds"] for r in results["runs"]}
    if 1 in walls and 2 in walls:
        results["speedup_2_workers"] = round(walls[1] / walls[2], 2)
    prof = results["profile"]
    if 1 in walls:
        # Reading and statistics are timed serially, without Prefect, in the profile; what
        # remains of the single worker's wall time is Prefect (API calls, task runs, flow-run
        # start) and Slack. Summed request latency is not a share: the shard's threads
        # overlap their requests.
        read_share = prof["read_seconds_per_model"] * args.models / walls[1]
        stats_share = prof["stats_seconds_per_model"] * args.models / walls[1]
        results["read_share_1_worker"] = round(read_share, 3)
        results["stats_share_1_worker"] = round(stats_share, 3)
        results["prefect_and_slack_share_1_worker"] = round(1 - read_share - stats_share, 3)
    print(json.dumps(results, indent=2))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / f"fleet-{args.models}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
