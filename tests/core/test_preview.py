"""The HTML preview: escaping, order, counts; and a real look in headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

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


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if shutil.which("apt-get") is None:
        return None
    # Debian's chromium; the test installs it when missing (CI machines start without it).
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        try:
            subprocess.run(
                command,
                check=True,
                capture_output=True,
                timeout=600,
                env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            )
        except (subprocess.SubprocessError, OSError):
            return None
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
