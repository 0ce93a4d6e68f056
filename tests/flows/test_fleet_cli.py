"""The fleet commands against the session's real Prefect API.

Secrets given where a name belongs are refused without being echoed (`fleet deploy
--webhook`, `demo --webhook`); a route that names no block fails `fleet validate
--connect` and makes a fleet run fail visibly with its alerts kept for replay;
`fleet deploy` names a missing work pool, refuses more shards than models and warns
about models without a route.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from slack_alerts.testing import LocalWebhookServer

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample" / "fleet"
SECRETS = (
    "https://hooks.slack.com/services/T000/B000/XXXXSECRETWEBHOOK",
    "xoxb-123456789012-abcdefSECRETTOKEN",
)


def _fleet(tmp_path: Path, route: str | None = None, extra: str = "") -> Path:
    """The sample fleet (absolute data paths), under a unique name, with ``route``."""
    text = (ROOT / "examples" / "fleet.yaml").read_text()
    text = text.replace("name: sample", f"name: probe-{uuid.uuid4().hex[:8]}")
    text = text.replace('"data/sample/fleet/{id}.parquet"', f'"{SAMPLE}/{{id}}.parquet"')
    if route is not None:
        text = text.replace("  # route: ml-alerts", f"  route: {route}")
    path = tmp_path / "fleet.yaml"
    path.write_text(text + extra)
    return path


def _main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from flows.cli import main

    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("secret", SECRETS)
def test_fleet_deploy_refuses_a_secret_as_webhook(
    secret: str, prefect_api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _main(["fleet", "deploy", str(_fleet(tmp_path)), "--webhook", secret], capsys)
    assert code == 1
    assert "SECRET" not in out + err and "Traceback" not in err
    assert "error: --webhook: the value given as a block name looks like a URL or a token" in err
    assert "slack-alerts save-webhook NAME" in err


def test_fleet_deploy_names_a_missing_pool_and_how_to_create_it(
    prefect_api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _main(["fleet", "deploy", str(_fleet(tmp_path)), "--pool", "nopool"], capsys)
    assert code == 1 and "Traceback" not in err
    assert "no work pool 'nopool' on" in err
    assert "prefect work-pool create nopool --type process" in err


def test_fleet_deploy_refuses_more_shards_than_models(
    prefect_api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _main(["fleet", "deploy", str(_fleet(tmp_path)), "--shards", "100000"], capsys)
    assert code == 1
    assert "--shards 100000: the fleet's largest scheduled run has 4 model(s)" in err
    assert "use --shards 4 or fewer" in err


def test_fleet_deploy_warns_about_models_without_a_route(
    prefect_api: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    pool = f"probe-pool-{uuid.uuid4().hex[:6]}"
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    monkeypatch.chdir(ROOT)
    path = _fleet(tmp_path)
    code, out, err = _main(["fleet", "deploy", str(path), "--pool", pool], capsys)
    assert code == 0, err
    assert "created" in out
    assert re.search(r"warning: 4 of 4 model\(s\) have no route \(sepsis-risk-v3, ", err), err
    assert "local preview folder on the worker" in err and "set `route`" in err
    routed = _fleet(tmp_path, route="ml-alerts")
    code, out, err = _main(["fleet", "deploy", str(routed), "--pool", pool], capsys)
    assert code == 0 and "no route" not in err


def test_validate_connect_checks_every_route_block(
    prefect_api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from blocks import SlackAlertsWebhook

    name = f"probe-hook-{uuid.uuid4().hex[:6]}"
    with LocalWebhookServer() as server:
        SlackAlertsWebhook(webhook_url=server.url).save(name)  # type: ignore[arg-type]
    path = _fleet(tmp_path, route=name)
    code, out, err = _main(["fleet", "validate", str(path), "--connect"], capsys)
    assert code == 0, out + err
    assert f"all 1 route block(s) exist on {prefect_api}" in out
    typo = _fleet(tmp_path, route=name + "s")
    code, out, err = _main(["fleet", "validate", str(typo), "--connect"], capsys)
    assert code == 1
    assert f"route '{name}s' (sepsis-risk-v3, readmission-v2, los-v1 and 1 more): no Slack" in out
    assert "1 route(s) cannot be used (see above)" in err


def test_a_run_whose_route_does_not_exist_fails_and_keeps_its_alerts(
    prefect_api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows.fleet import FleetRunIncomplete, fleet_check_flow
    from slack_alerts import DurableOutbox

    path = _fleet(tmp_path, route="no-such-route")
    args = ["fleet", "run", str(path), "--at", "2026-01-05T12:00Z", "--check", "drift"]
    code, out, err = _main([*args, "--only", "sepsis-risk-v3"], capsys)
    assert code == 1, out + err
    assert "sepsis-risk-v3" in out and "not delivered: route no-such-route:" in out
    assert "slack-alerts replay" in err
    kept = DurableOutbox().pending()
    assert kept and {r.route.get("block") for r in kept} == {"no-such-route"}
    assert {r.model_id for r in kept} == {"sepsis-risk-v3"}
    # The flow run itself is not a success: its state on the server is Failed.
    state = fleet_check_flow(
        str(path), "drift", "0 * * * *", at="2026-01-05T12:00:00+00:00", return_state=True
    )
    assert state.is_failed()
    with pytest.raises(FleetRunIncomplete, match="route no-such-route"):
        state.result()


def test_demo_refuses_a_token_as_webhook_in_one_line(
    prefect_api: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from slack_alerts import DurableOutbox

    code, out, err = _main(["demo", "--webhook", SECRETS[1]], capsys)
    assert code == 1 and "Traceback" not in err and "SECRET" not in out + err
    assert err.count("\n") == 1 and err.startswith("error: --webhook: ")
    assert DurableOutbox().pending() == []


def test_help_names_every_command_group(capsys: pytest.CaptureFixture[str]) -> None:
    from flows.cli import main

    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "a fleet of models from one YAML file" in text and "backfills" in text
    assert "silences" in text
