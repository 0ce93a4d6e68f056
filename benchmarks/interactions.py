"""Interaction endpoint benchmark: verified button presses per second on one core, p99.

    python benchmarks/interactions.py [--requests 3000] [--connections 16]

Three processes on loopback:

- the endpoint: ``flows.interactions.interactions_app`` under uvicorn, pinned
  to one core, with SQLite state (shared with the orchestrator) and the
  bot's Web API client pointed at the fake Slack;
- the load tool: a separate process (asyncio + httpx, ``--connections``
  keep-alive connections) pinned to the other core, sending pre-signed
  requests (each unique: the replay cache refuses repeats);
- this process: the fake Slack Web API (``LocalSlackApi``) and the
  end-to-end runs.

Measured:

1. *acknowledge*: signature check, replay cache, the acknowledgement in the
   shared state (SQLite, under the group's lock), ``chat.update`` on the fake
   Slack: requests per second and latency percentiles;
2. *verify only*: a signed press of a button that is not ours (verified,
   then ignored): the cost of verification and HTTP alone;
3. *end to end*: an alert detected (``AlertPipeline.submit`` posts the
   message) -> a signed press of Acknowledge -> the message updated on the
   fake Slack, 20 times: median and worst.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "bench-signing-secret-0123456789abcdef"  # noqa: S105 - a local fake


def _pin(cpu: int) -> None:
    available = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {available[cpu % len(available)]})


def serve(port: int, state: str, api_url: str) -> None:
    """The endpoint process (one core)."""
    _pin(0)
    import uvicorn

    from flows.interactions import interactions_app
    from slack_alerts import RetryPolicy
    from slack_alerts.interactions import InteractionHandler
    from slack_alerts.notify.slack_api import SlackApiNotifier
    from slack_alerts.sqlstate import SqliteStateStore
    from slack_alerts.testing_slack import FAKE_BOT_TOKEN

    store = SqliteStateStore(state)
    bot = SlackApiNotifier(
        FAKE_BOT_TOKEN, channel="#ml-alerts", base_url=api_url, retry_policy=RetryPolicy(0)
    )
    handler = InteractionHandler(store=store, silences=store, editor=bot, signing_secret=SECRET)
    uvicorn.run(
        interactions_app(handler), host="127.0.0.1", port=port, log_level="error", access_log=False
    )


def load(url: str, bodies_file: str, connections: int) -> None:
    """The load tool process: sends every request once, prints the latencies as JSON."""
    _pin(1)
    import httpx

    requests: list[dict[str, Any]] = json.loads(Path(bodies_file).read_text())

    async def run() -> tuple[list[float], list[int], float]:
        latencies: list[float] = []
        statuses: list[int] = []
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for request in requests:
            queue.put_nowait(request)
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:

            async def worker() -> None:
                while not queue.empty():
                    request = queue.get_nowait()
                    started = time.perf_counter()
                    answer = await client.post(
                        url, content=request["body"].encode(), headers=request["headers"]
                    )
                    latencies.append(time.perf_counter() - started)
                    statuses.append(answer.status_code)

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(connections)))
            return latencies, statuses, time.perf_counter() - started

    latencies, statuses, wall = asyncio.run(run())
    print(json.dumps({"latencies": latencies, "statuses": statuses, "wall": wall}))


def _percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, 100 * q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--serve", nargs=3, metavar=("PORT", "STATE", "API_URL"))
    parser.add_argument("--load", nargs=3, metavar=("URL", "BODIES", "CONNECTIONS"))
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.serve[2])
        return 0
    if args.load:
        load(args.load[0], args.load[1], int(args.load[2]))
        return 0

    import httpx

    from flows.interactions import INTERACTIONS_PATH
    from flows.testing import free_port
    from slack_alerts import DriftAlert, Receiver, ReceiverSettings, RetryPolicy
    from slack_alerts.formatting import ACK_ACTION, FormatOptions
    from slack_alerts.notify.slack_api import SlackApiNotifier
    from slack_alerts.pipeline import AlertPipeline
    from slack_alerts.sqlstate import SqliteStateStore
    from slack_alerts.testing_slack import FAKE_BOT_TOKEN, LocalSlackApi, signed_request

    _pin(1)
    folder = Path(tempfile.mkdtemp(prefix="bench-interactions-"))
    state = str(folder / "state.sqlite3")
    port = free_port()
    url = f"http://127.0.0.1:{port}{INTERACTIONS_PATH}"
    report: dict[str, Any] = {"cores": len(os.sched_getaffinity(0)), "load": os.getloadavg()}
    with LocalSlackApi() as slack:
        server = subprocess.Popen(  # noqa: S603 - this script, with our own arguments
            [sys.executable, __file__, "--serve", str(port), state, slack.base_url], cwd=ROOT
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            store = SqliteStateStore(state)
            bot = SlackApiNotifier(
                FAKE_BOT_TOKEN,
                channel="#ml-alerts",
                base_url=slack.base_url,
                retry_policy=RetryPolicy(0),
            )
            receiver = Receiver(
                key="block:bench-bot",
                name="bench-bot",
                notifier=bot,
                options=FormatOptions(interaction_key="block:bench-bot"),
                settings=ReceiverSettings(rate_limit_per_minute=100_000, update_message=True),
            )
            pipeline = AlertPipeline(receiver, store)

            def alert(model: str) -> DriftAlert:
                return DriftAlert(
                    model_id=model,
                    model_name="Bench",
                    metric="auroc",
                    current_value=0.7,
                    baseline_value=0.8,
                    threshold=0.05,
                )

            # 50 models' messages to press buttons on.
            for i in range(50):
                pipeline.submit([alert(f"bench-{i}")])
            messages = slack.posted()

            def phase(name: str, action: str) -> None:
                requests = []
                for i in range(args.requests):
                    payload = slack.click(messages[i % len(messages)], action)
                    payload["actions"][0]["action_ts"] = f"{i}.{time.time_ns()}"
                    body, headers = signed_request(payload, SECRET)
                    requests.append({"body": body.decode(), "headers": headers})
                bodies = folder / f"{name}.json"
                bodies.write_text(json.dumps(requests))
                out = subprocess.run(  # noqa: S603 - this script, with our own arguments
                    [sys.executable, __file__, "--load", url, str(bodies), str(args.connections)],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                data = json.loads(out.stdout)
                latencies = data["latencies"]
                ok = sum(1 for s in data["statuses"] if s == 200)
                report[name] = {
                    "requests": len(latencies),
                    "ok": ok,
                    "per_second": round(len(latencies) / data["wall"], 1),
                    "p50_ms": round(1000 * _percentile(latencies, 0.50), 2),
                    "p99_ms": round(1000 * _percentile(latencies, 0.99), 2),
                    "max_ms": round(1000 * max(latencies), 2),
                }
                print(name, report[name], flush=True)

            phase("verify_only", "open_dashboard")
            phase("acknowledge", ACK_ACTION)

            # End to end: detected alert -> message posted -> press -> message updated.
            e2e: list[float] = []
            with httpx.Client(timeout=30) as client:
                for i in range(20):
                    model = f"e2e-{i}-{time.time_ns()}"
                    started = time.perf_counter()
                    pipeline.submit([alert(model)])
                    message = slack.posted()[-1]
                    body, headers = signed_request(slack.click(message, ACK_ACTION), SECRET)
                    client.post(url, content=body, headers=headers)
                    while not slack.message(message.channel, message.ts).edits:
                        time.sleep(0.0005)
                    e2e.append(time.perf_counter() - started)
            report["end_to_end"] = {
                "runs": len(e2e),
                "median_ms": round(1000 * statistics.median(e2e), 2),
                "max_ms": round(1000 * max(e2e), 2),
            }
            print("end_to_end", report["end_to_end"], flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    (ROOT / "benchmarks" / "interactions-last-run.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
