"""Benchmarks side by side with the tools users would pick instead.

    make bench                      # creates .venv-bench with the peers, then runs this
    python benchmarks/bench.py [--quick] [--only drift,fairness,delivery,prefect,hygiene]
    BENCH_NO_PEERS=1 python benchmarks/bench.py --only drift   # ours and the floor only

Every section prints a table and the ratios; targets are stated next to the
measured numbers, and a missed target is reported as missed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")

RESULTS: dict[str, Any] = {}


def best_of(fn: Callable[[], Any], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def table(title: str, rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n## {title}\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    sys.stdout.flush()


# -- drift ----------------------------------------------------------------------


def frames(rows: int, features: int = 20, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two windows of ``features`` normal columns, the first 3 shifted by 0.3 sd.

    Built column by column, so each column is contiguous, as in a frame read
    from CSV or Parquet (a frame made from one C-ordered 2-D array would make
    every column a strided view, which costs any reader, not only us).
    """
    rng = np.random.default_rng(seed)
    names = [f"f{i}" for i in range(features)]
    reference = pd.DataFrame({name: rng.normal(size=rows) for name in names})
    current = pd.DataFrame(
        {name: rng.normal(size=rows) + (0.3 if i < 3 else 0.0) for i, name in enumerate(names)}
    )
    return reference, current


def scipy_loop(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    from scipy import stats

    for column in reference.columns:
        stats.ks_2samp(reference[column], current[column])
        stats.wasserstein_distance(reference[column], current[column])


def contiguous_columns(*frames: pd.DataFrame) -> list[np.ndarray[Any, Any]]:
    """Every column of the frames as its own contiguous array (made outside the timing)."""
    return [np.ascontiguousarray(frame[c].to_numpy()) for frame in frames for c in frame.columns]


def sort_floor(columns: list[np.ndarray[Any, Any]]) -> None:
    """The floor: sort each column of both frames once, nothing else."""
    for column in columns:
        np.sort(column)


def evidently_drift(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)


def bench_drift(quick: bool) -> None:
    from slack_alerts.checks.drift import feature_drift

    sizes = [200_000] if quick else [200_000, 1_000_000]
    peers = not os.environ.get("BENCH_NO_PEERS")
    rows = []
    for size in sizes:
        reference, current = frames(size)
        columns = contiguous_columns(reference, current)
        # Interleaved, so that both see the same machine load; best of each.
        ours, floor = math.inf, math.inf
        for _ in range(5 if size > 200_000 else 9):
            ours = min(ours, best_of(partial(feature_drift, reference, current), 1))
            floor = min(floor, best_of(partial(sort_floor, columns), 1))
        nan = float("nan")
        loop = best_of(partial(scipy_loop, reference, current), 1) if peers else nan
        try:
            peer = best_of(partial(evidently_drift, reference, current), 1) if peers else nan
        except Exception as exc:  # peer not installed or broken: say so
            print(f"Evidently unavailable: {type(exc).__name__}: {exc}")
            peer = nan
        RESULTS[f"drift_{size}"] = dict(
            ours=ours, floor=floor, ratio_to_floor=ours / floor, scipy=loop, evidently=peer
        )
        rows.append(
            (
                f"{size:,} x 20",
                f"{ours:.3f}",
                f"{floor:.3f}",
                f"{ours / floor:.2f}x",
                f"{loop:.2f}",
                f"{loop / ours:.1f}x",
                f"{peer:.2f}",
                f"{peer / ours:.1f}x",
            )
        )
    table(
        "Drift statistics (seconds; targets: >= 20x faster than Evidently, <= 2x the sort floor)",
        rows,
        (
            "rows x features",
            "feature_drift",
            "sort floor",
            "vs floor",
            "scipy loop",
            "speed-up",
            "Evidently",
            "speed-up",
        ),
    )


# -- fairness -------------------------------------------------------------------


def bench_fairness(quick: bool) -> None:
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_ratio,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    from slack_alerts.checks.fairness import fairness_summary

    n = 200_000 if quick else 1_000_000
    rng = np.random.default_rng(1)
    groups = rng.choice(list("ABCDE"), n)
    y_true = rng.integers(0, 2, n)
    y_pred = (rng.random(n) < np.where(groups == "A", 0.5, 0.4)).astype(int)

    def peer() -> dict[str, float]:
        MetricFrame(
            metrics={
                "selection_rate": selection_rate,
                "tpr": true_positive_rate,
                "fpr": false_positive_rate,
            },
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=groups,
        )
        return {
            "demographic_parity_ratio": demographic_parity_ratio(
                y_true, y_pred, sensitive_features=groups
            ),
            "equalized_odds_difference": equalized_odds_difference(
                y_true, y_pred, sensitive_features=groups
            ),
        }

    ours_time = best_of(lambda: fairness_summary(y_true, y_pred, groups), 3)
    started = time.perf_counter()
    expected = peer()
    peer_time = time.perf_counter() - started
    mine = fairness_summary(y_true, y_pred, groups)
    diff = max(abs(mine[k] - v) for k, v in expected.items())
    RESULTS["fairness"] = dict(ours=ours_time, fairlearn=peer_time, max_abs_diff=diff)
    table(
        f"Fairness on {n:,} rows, 5 groups (seconds; target: >= 100x faster, identical values)",
        [(f"{ours_time:.3f}", f"{peer_time:.2f}", f"{peer_time / ours_time:.0f}x", f"{diff:.1e}")],
        ("fairness_summary", "fairlearn", "speed-up", "max |difference|"),
    )


# -- delivery -------------------------------------------------------------------


def bench_delivery(quick: bool) -> None:
    import requests

    from slack_alerts import DriftAlert, SlackAlertClient, format_alert
    from slack_alerts.testing import LocalWebhookServer

    n = 500 if quick else 2000
    alerts = [
        DriftAlert(
            model_id=f"model-{i % 50}",
            model_name="Sepsis early warning",
            metric=f"feature:f{i}",
            current_value=0.31,
            baseline_value=0.0,
            threshold=0.1,
            severity="critical",
            details={"psi": 0.31, "ks_pvalue": 1e-9, "n_reference": 100000},
        )
        for i in range(n)
    ]
    prebuilt = format_alert(alerts[0])
    body = json.dumps(prebuilt).encode()
    rows = []
    with LocalWebhookServer() as server:

        def rate(fn: Callable[[], None]) -> float:
            server.reset()
            started = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - started
            assert len(server.delivered()) == n, f"{len(server.delivered())} of {n} delivered"
            return n / elapsed

        def floor() -> None:
            with requests.Session() as session:
                for _ in range(n):
                    session.post(
                        server.url, data=body, headers={"Content-Type": "application/json"}
                    ).close()

        def ours() -> None:
            with SlackAlertClient(server.url) as client:
                for alert in alerts:
                    client.send(alert)

        def sdk() -> None:
            from slack_sdk.webhook import WebhookClient

            client = WebhookClient(server.url)
            for alert in alerts:
                client.send_dict(format_alert(alert))

        def prefect_slack() -> None:
            from prefect_slack import SlackWebhook

            hook = SlackWebhook(url=server.url)

            async def go() -> None:
                for alert in alerts:
                    await hook.notify(format_alert(alert)["text"])

            asyncio.run(go())

        floor_rate = rate(floor)
        results = {
            "requests.Session floor (prebuilt payload)": floor_rate,
            "slack_alerts SlackAlertClient": rate(ours),
        }
        for name, fn in (
            ("slack_sdk WebhookClient (+ our formatter)", sdk),
            ("prefect-slack SlackWebhook.notify (text only)", prefect_slack),
        ):
            try:
                results[name] = rate(fn)
            except Exception as exc:
                print(f"{name} unavailable: {type(exc).__name__}: {exc}")
                results[name] = float("nan")
    RESULTS["delivery"] = results
    for name, value in results.items():
        rows.append((name, f"{value:,.0f}", f"{floor_rate / value:.2f}x"))
    table(
        f"Delivery to a local webhook server ({n} alerts; alerts/s; "
        "target: within 1.3x of the floor)",
        rows,
        ("client", "alerts/s", "floor time ratio"),
    )


# -- prefect overhead -----------------------------------------------------------


def bench_prefect(quick: bool) -> None:
    from prefect import flow
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from blocks import SlackAlertsWebhook
    from flows import send_alert
    from flows.tasks import send_one
    from flows.testing import LocalPrefectServer
    from slack_alerts import DriftAlert, SlackAlertClient
    from slack_alerts.testing import LocalWebhookServer

    models = 20 if quick else 100
    run = iter(range(1_000_000))

    def alerts() -> list[DriftAlert]:
        batch = next(run)
        return [
            DriftAlert(
                model_id=f"bench-{time.time_ns()}-{batch}-{i}",
                model_name="m",
                metric="auroc",
                current_value=0.7,
                baseline_value=0.8,
                threshold=0.05,
            )
            for i in range(models)
        ]

    # Flows defined in a function: their parameter annotations must resolve
    # at run time (postponed annotations cannot see these local imports).
    @flow
    def sequential(batch: list[Any], block: Any) -> None:
        for alert in batch:
            send_alert(alert, block)

    @flow
    def submitted(batch: list[Any], block: Any) -> None:
        for future in [send_alert.submit(alert, block) for alert in batch]:
            future.wait()

    @flow
    def without_tasks(batch: list[Any], block: Any) -> None:
        for alert in batch:
            send_one(alert, block, False)  # the pipeline with server-side state, no task run

    with LocalWebhookServer() as server, LocalPrefectServer(ROOT) as prefect_server:
        os.environ["PREFECT_LOCAL_STORAGE_PATH"] = str(prefect_server.workdir / "bench-results")
        with temporary_settings({PREFECT_API_URL: prefect_server.env["PREFECT_API_URL"]}):
            block = SlackAlertsWebhook(webhook_url=server.url, rate_limit_wait_seconds=60)
            started = time.perf_counter()
            with SlackAlertClient(server.url) as client:
                for alert in alerts():
                    client.send(alert)
            direct = time.perf_counter() - started
            timings = {}
            for name, fn in (
                ("flow, tasks submitted (what the flows do)", submitted),
                ("flow, one task at a time", sequential),
                ("flow, no task (the pipeline only)", without_tasks),
            ):
                batch = alerts()
                started = time.perf_counter()
                fn(batch, block)
                timings[name] = time.perf_counter() - started
        backend = prefect_server.backend
    RESULTS["prefect"] = {"backend": backend, "direct": direct, **timings}
    rows = [("core client, no Prefect", f"{direct:.2f}", f"{1000 * direct / models:.1f}")]
    rows += [(k, f"{v:.2f}", f"{1000 * (v - direct) / models:.0f}") for k, v in timings.items()]
    table(
        f"Prefect overhead, one alert for each of {models} models "
        f"(prefect server on {backend}, 2 cores)",
        rows,
        ("how", "wall s", "ms per alert (overhead)"),
    )


# -- hygiene ----------------------------------------------------------------------


def bench_hygiene(quick: bool) -> None:
    from slack_alerts.text import escape_mrkdwn, redact_phi

    rows = []
    for label, unit in (
        ("no '@' (email worst case)", "a"),
        ("'a@' repeated", "a@"),
        ("digits and dashes", "1-"),
        ("'MRN ' repeated", "MRN "),
        ("markup", "<!here>&"),
    ):
        times = []
        for size in (10_000, 100_000, 1_000_000):
            text = unit * (size // len(unit))
            times.append(best_of(partial(lambda t: escape_mrkdwn(redact_phi(t)), text), 3))
        rows.append((label, *(f"{t * 1000:.1f}" for t in times), f"{times[2] / times[1]:.1f}x"))
    RESULTS["hygiene"] = rows
    table(
        "PHI redaction + escaping on hostile text (ms; linear time means ~10x per 10x)",
        rows,
        ("input", "10k chars", "100k", "1M", "1M / 100k"),
    )


SECTIONS = {
    "drift": bench_drift,
    "fairness": bench_fairness,
    "delivery": bench_delivery,
    "prefect": bench_prefect,
    "hygiene": bench_hygiene,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    args = parser.parse_args()
    print(
        f"# slack-alerts benchmarks ({'quick' if args.quick else 'full'}), {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]}, numpy {np.__version__}, pandas {pd.__version__}"
    )
    for name in args.only.split(","):
        SECTIONS[name.strip()](args.quick)
    out = ROOT / "benchmarks" / "last-run.json"
    out.write_text(json.dumps(RESULTS, indent=2, default=str))
    print(f"\nRaw numbers: {out}")


if __name__ == "__main__":
    main()
