"""The slack-alerts command, run as a user would (a subprocess), against a real Prefect API."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from slack_alerts.testing import LocalWebhookServer, ScriptedResponse

ROOT = Path(__file__).resolve().parents[2]


def run(
    args: list[str], env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_demo_runs_and_writes_the_preview(prefect_env: dict[str, str], tmp_path: Path) -> None:
    done = run(["demo", "--outbox", str(tmp_path / "box")], prefect_env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert_demo_timeline(out)
    assert (tmp_path / "box" / "index.html").exists() and "Preview:" in out


def assert_demo_timeline(out: str) -> None:
    """The demo's steps, and its timeline: quiet, fires, deduplicated, resolved."""
    for step in ("[1/3]", "[2/3]", "[3/3]"):
        assert step in out, out
    timeline = out.split("Timeline (each run checks the hour before its scheduled time):")[1]
    slots = [line for line in timeline.splitlines() if " UTC  " in line][:4]
    verdicts = [line.split(" UTC  ")[1].split(" |")[0] for line in slots]
    assert verdicts == ["quiet", "FIRES", "still firing (deduplicated)", "resolved"], out
    for fired in ("feature:age (critical)", "auroc", "fairness (critical)", "safety (critical)"):
        assert fired in slots[1], slots[1]
    assert re.search(r"Alerts: \d+ critical, \d+ warning, 0 info", out), out


def test_demo_against_a_failing_webhook_says_what_to_do_without_tracebacks(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    with LocalWebhookServer() as server:
        server.default = ScriptedResponse(500, "oops")
        env = {**prefect_env, "SLACK_WEBHOOK_URL": server.url}
        done = run(["demo", "--outbox", str(tmp_path / "box")], env)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    assert "[3/3] Security" in done.stdout  # every step ran
    assert "Traceback" not in output and server.path not in output
    assert "alerts not delivered" in done.stderr and "slack-alerts replay" in done.stderr


def test_replay_with_nothing_undelivered(prefect_env: dict[str, str], tmp_path: Path) -> None:
    done = run(["replay", "--outbox", str(tmp_path)], prefect_env)
    assert done.returncode == 0 and "Nothing to replay" in done.stdout


def test_preview_without_messages(prefect_env: dict[str, str], tmp_path: Path) -> None:
    done = run(["preview", str(tmp_path)], prefect_env)
    assert done.returncode == 1 and "Run `slack-alerts demo` first" in done.stderr


def test_register_send_test_and_limits(prefect_env: dict[str, str]) -> None:
    assert run(["register"], prefect_env).returncode == 0
    missing = run(["send-test", "--block", "no-such-block"], prefect_env)
    assert (
        missing.returncode == 1
        and "SlackAlertsWebhook(webhook_url=...).save('no-such-block')" in missing.stderr
    )
    name = f"cli-{uuid.uuid4().hex[:6]}"
    with LocalWebhookServer() as server:
        from blocks import SlackAlertsWebhook

        SlackAlertsWebhook(webhook_url=server.url).save(name)  # type: ignore[arg-type]
        ok = run(["send-test", "--block", name], prefect_env)
        assert ok.returncode == 0, ok.stderr[-2000:]
        assert "Sent a test message" in ok.stdout and server.path not in ok.stdout
        assert len(server.payloads()) == 1
        server.default = ScriptedResponse(404, "channel_not_found")
        bad = run(["send-test", "--block", name], prefect_env)
        assert bad.returncode == 1 and "channel was deleted or renamed" in bad.stderr
        # A 200 that is not Slack's "ok" (a proxy's login page) is not a success.
        server.default = ScriptedResponse(200, "<html><body>Sign in</body></html>")
        login = run(["send-test", "--block", name], prefect_env)
        assert login.returncode == 1, login.stdout + login.stderr
        assert "Sent a test message" not in login.stdout and server.path not in login.stderr
    limits = run(["limits"], prefect_env)
    assert limits.returncode == 0 and (
        "slack-alerts-rate-" in limits.stdout or "No slack-alerts limits" in limits.stdout
    )


def test_outbox_lists_what_is_kept_and_what_slack_refused(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    from slack_alerts import DurableOutbox, RetryPolicy, SlackAlertClient
    from tests.factories import drift

    box = DurableOutbox(tmp_path / "undelivered")
    with LocalWebhookServer() as server:
        once = RetryPolicy(max_retries=0)
        with SlackAlertClient(server.url, retry_policy=once, durable_outbox=box) as client:
            server.default = ScriptedResponse(503, "busy")
            assert not client.send(drift("kept-model")).ok
            server.default = ScriptedResponse(400, "invalid_blocks")
            assert not client.send(drift("refused-model")).ok
    done = run(["outbox", "--outbox", str(box.directory)], prefect_env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    pending, dead = done.stdout.split("Dead letters in")
    assert "model kept-model  1 alert(s)" in pending and "refused-model" not in pending
    assert "model refused-model  1 alert(s)" in dead and "invalid_blocks" in dead
    assert server.path not in done.stdout


def test_unreachable_server_says_what_to_do(prefect_env: dict[str, str]) -> None:
    env = {**prefect_env, "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    done = run(["limits"], env, timeout=120)
    assert done.returncode == 1 and "Cannot reach the Prefect API" in done.stderr


@pytest.mark.parametrize("args", [[], ["frobnicate"], ["send-test"]])
def test_usage_errors(args: list[str], prefect_env: dict[str, str]) -> None:
    assert run(args, prefect_env, timeout=60).returncode == 2


def test_save_webhook_says_what_to_do(
    prefect_api: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows.cli import main

    name = f"cli-{uuid.uuid4().hex[:6]}"
    with LocalWebhookServer() as server:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", server.url)
        assert main(["save-webhook", name]) == 0
        out = capsys.readouterr().out
        assert f"Saved Slack Alerts Webhook block '{name}'" in out and server.path not in out
        assert main(["save-webhook", name]) == 1
        err = capsys.readouterr().err
        assert "already exists" in err and f"slack-alerts save-webhook {name} --overwrite" in err
        assert main(["save-webhook", name, "--overwrite"]) == 0
    monkeypatch.delenv("SLACK_WEBHOOK_URL")
    assert main(["save-webhook", name]) == 1
    assert "SLACK_WEBHOOK_URL is not set" in capsys.readouterr().err
    bad = "hooks.slack.com/services/T/B/typo"
    monkeypatch.setenv("SLACK_WEBHOOK_URL", bad)
    assert main(["save-webhook", name]) == 1
    err = capsys.readouterr().err
    assert "must be an http(s) URL" in err and bad not in err  # never echoed: it is the secret


@pytest.mark.parametrize(
    "given",
    [
        "xoxb-1234-5678-CANARYcanaryCANARY",
        "https://hooks.slack.com/services/T0/B0/CANARYcanaryCANARY",
        "postgresql://user:CANARYcanaryCANARY@db/x",
        "My Alerts",
    ],
)
def test_a_value_that_is_not_a_block_name_is_explained_not_echoed(
    given: str,
    prefect_api: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from flows.cli import main

    with LocalWebhookServer() as server:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", server.url)
        assert main(["save-webhook", given]) == 1
        assert main(["send-test", "--block", given]) == 1
    out = capsys.readouterr()
    assert "CANARY" not in out.out + out.err and "Traceback" not in out.err
    assert out.err.count("error: ") == 2
    if given == "My Alerts":
        assert "lowercase letters, digits and dashes" in out.err
    else:
        assert "slack-alerts save-webhook NAME" in out.err


def test_server_side_commands_refuse_a_temporary_or_absent_server(
    prefect_api: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.cli import main

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert main(["save-webhook", "ml-alerts"]) == 1
    err = capsys.readouterr().err
    assert "PREFECT_API_URL is not set" in err and "prefect config set PREFECT_API_URL=" in err
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert main(["register"]) == 1
    err = capsys.readouterr().err
    assert "Cannot reach the Prefect API at http://127.0.0.1:9/api" in err
    assert "prefect server start" in err
