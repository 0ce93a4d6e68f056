"""The HTML preview: escaping, order, counts; and a real look in headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from slack_alerts import DriftAlert, FAVESViolation, SafetyEvent, SlackAlertClient
from slack_alerts.notify.preview import read_outbox
from slack_alerts.preview import render_mrkdwn, render_outbox, write_preview

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
HOSTILE = (
    '<script>document.title="pwned"</script>'
    "<img src=x onerror=\"document.title='pwned'\"> <!channel>"
)


def fill_outbox(folder: Path) -> None:
    client = SlackAlertClient(None, outbox_dir=folder, mention_on_critical="here")
    client.send(
        DriftAlert(
            model_id="sepsis-v3",
            model_name="Sepsis early warning",
            metric="auroc",
            current_value=0.78,
            baseline_value=0.86,
            threshold=0.05,
            severity="critical",
            details={"dashboard_url": "https://grafana.example/d/sepsis"},
        )
    )
    client.send(
        FAVESViolation(
            model_id="readmit-2",
            model_name="Readmission",
            violation_type="fairness",
            description=HOSTILE,
            affected_groups=["C"],
        )
    )
    client.send(
        SafetyEvent(
            event_type="prompt_injection",
            model_id="triage-llm",
            description="3 prompts",
            severity="info",
        )
    )


def test_render_escapes_and_orders(tmp_path: Path) -> None:
    fill_outbox(tmp_path)
    page = render_outbox(read_outbox(tmp_path))
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;" in page and "&lt;!channel&gt;" in page
    assert "Content-Security-Policy" in page
    # Newest first: the info safety event was written last.
    assert (
        page.index("prompt_injection")
        < page.index("Readmission")
        < page.index("Sepsis early warning")
    )
    assert "<td>sepsis-v3</td><td>1</td><td>0</td><td>0</td><td>0</td>" in page
    assert 'href="https://grafana.example/d/sepsis"' in page
    assert "#E01E5A" in page  # the critical colour bar


def test_mrkdwn_subset() -> None:
    assert (
        render_mrkdwn("*bold* `code` a&amp;b &lt;x&gt;\nnext")
        == "<b>bold</b> <code>code</code> a&amp;b &lt;x&gt;<br>next"
    )


def test_hostile_records_are_contained() -> None:
    record = {
        "written_at_ns": 1,
        "severity": '"><script>',
        "model_id": "<b>m</b>",
        "payload": {
            "text": "x",
            "attachments": [
                {
                    "color": "red;background:url(x)",
                    "blocks": [
                        {
                            "type": "actions",
                            "elements": [
                                {
                                    "type": "button",
                                    "text": {"type": "plain_text", "text": "go"},
                                    "url": "javascript:alert(1)",
                                }
                            ],
                        }
                    ],
                }
            ],
        },
    }
    page = render_outbox([record])
    assert "javascript:" not in page and "<script>" not in page and "<b>m</b>" not in page
    assert "url(x)" not in page


EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found and EMOJI_FONT.exists():
        return found
    if shutil.which("apt-get") is None:
        return found
    # Debian's chromium, and an emoji font so the screenshot shows emoji rather
    # than empty boxes; installed when missing (CI machines start without them).
    packages = ["chromium", "fonts-noto-color-emoji"]
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        try:
            subprocess.run(
                command,
                check=True,
                capture_output=True,
                timeout=600,
                env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            )
        except (subprocess.SubprocessError, OSError):
            return found
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def chromium() -> str:
    path = _chromium()
    if path is None:
        pytest.skip(
            "Chromium is not installed and could not be installed with apt-get "
            "(Debian package `chromium`)"
        )
    return path


def _run_chromium(binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}",
    ]
    return subprocess.run(
        [binary, *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_page_in_headless_chromium(chromium: str, tmp_path: Path) -> None:
    fill_outbox(tmp_path)
    page = write_preview(tmp_path)
    dom = _run_chromium(chromium, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "CRITICAL · Drift: Sepsis early warning" in html
    assert "FAVES violation: Readmission" in html and "prompt_injection" in html
    # The hostile description stayed text: no script ran, no element was injected.
    assert "<title>slack-alerts preview</title>" in html and "pwned</title>" not in html
    assert "<img" not in html and "&lt;script&gt;" in html
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "preview.png"
    done = _run_chromium(chromium, "--window-size=1000,1300", f"--screenshot={shot}", page.as_uri())
    assert done.returncode == 0 and shot.stat().st_size > 10_000
    assert EMOJI_FONT.exists(), "no emoji font: the screenshot shows empty boxes for emoji"


def test_counts_alerts_not_messages_and_lists_what_was_not_delivered(
    tmp_path: Path, webhook_server: Any
) -> None:
    from slack_alerts import DurableOutbox
    from slack_alerts.pipeline import AlertPipeline
    from slack_alerts.sqlstate import SqliteStateStore
    from slack_alerts.testing import ScriptedResponse

    preview = SlackAlertClient(None, outbox_dir=tmp_path / "preview")
    digest = [
        DriftAlert(
            model_id="sepsis-v3",
            model_name="Sepsis",
            metric=f"feature:f{i}",
            current_value=0.3,
            baseline_value=0.0,
            threshold=0.1,
            severity="critical" if i == 0 else "warning",
        )
        for i in range(4)
    ]
    AlertPipeline(preview, SqliteStateStore(tmp_path / "s.db")).submit(digest)
    preview.send_message("a test message")
    outbox = DurableOutbox(tmp_path / "undelivered")
    webhook_server.default = ScriptedResponse(400, "invalid_blocks")
    client = SlackAlertClient(webhook_server.url, durable_outbox=outbox)
    client.send(DriftAlert(**{**digest[0].model_dump(exclude={"fingerprint"}), "model_id": "x"}))
    page = write_preview(tmp_path / "preview", undelivered=outbox).read_text()
    row = page.split("<td>sepsis-v3</td>", 1)[1].split("</tr>", 1)[0]
    cells = [c.split("</td>")[0] for c in row.split("<td>")[1:]]
    assert cells == ["1", "3", "0", "0", "0"]  # 4 alerts in one message, per severity
    assert "<td>(none)</td><td>0</td><td>0</td><td>0</td><td>0</td><td>1</td>" in page
    assert "Not delivered" in page and "refused (dead letter)" in page
    assert "invalid_blocks" in page
