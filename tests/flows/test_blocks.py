"""The blocks as the Prefect UI sees them: Prefect's standard suite, the form's schema, the page.

The UI builds its form from the block schema registered on the server,
validates the values through the server's ``/ui/schemas/validate`` (Prefect's
jsonschema validator), writes the block document through the API (where no
Python validator runs), and shows the block type's code example with
``BLOCK_NAME`` replaced by the block's name. These tests take each of those
paths against the session's Prefect API.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prefect.blocks.core import Block
from prefect.client.orchestration import get_client
from prefect.testing.standard_test_suites import BlockStandardTestSuite
from prefect.utilities.schema_tools.validation import validate

import blocks
from blocks import SlackAlertsBot, SlackAlertsRouter, SlackAlertsWebhook
from blocks.metadata import WEBHOOK_URL_PATTERN
from slack_alerts.notify.webhook import validate_webhook_url
from slack_alerts.testing import LocalWebhookServer

ROOT = Path(__file__).resolve().parents[2]
BLOCKS: list[type[Block]] = [SlackAlertsWebhook, SlackAlertsRouter, SlackAlertsBot]

pytestmark = pytest.mark.usefixtures("prefect_api")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- Prefect's standard block suite (the one prefect-slack runs), one subclass per block ----


def test_every_block_runs_the_standard_suite() -> None:
    exported = {
        value
        for name in blocks.__all__
        if isinstance(value := getattr(blocks, name), type) and issubclass(value, Block)
    }
    assert exported == set(BLOCKS)
    suites = {cls.__name__ for cls in _OfflineStandardSuite.__subclasses__()}
    assert suites == {f"Test{block.__name__}Standard" for block in BLOCKS}


class _OfflineStandardSuite(BlockStandardTestSuite):
    def test_has_a_valid_image(self, block: type[Block]) -> None:
        # Prefect's version downloads the logo (whenever Pillow is installed) to check that it
        # is a square image; CI has no network. Offline, the equivalent: the logo is Prefect's
        # own Slack logo, which Prefect's suite checks online for its SlackWebhook block, pinned
        # to a commit so that the image behind the URL cannot change.
        from prefect.blocks.notifications import SlackWebhook

        assert block._logo_url is not None
        assert str(block._logo_url) == str(SlackWebhook._logo_url)
        assert re.search(r"/[0-9a-f]{40}/.+\.png$", str(block._logo_url))


class TestSlackAlertsWebhookStandard(_OfflineStandardSuite):
    @pytest.fixture
    def block(self) -> type[Block]:
        return SlackAlertsWebhook


class TestSlackAlertsRouterStandard(_OfflineStandardSuite):
    @pytest.fixture
    def block(self) -> type[Block]:
        return SlackAlertsRouter


class TestSlackAlertsBotStandard(_OfflineStandardSuite):
    @pytest.fixture
    def block(self) -> type[Block]:
        return SlackAlertsBot


# -- the webhook URL in the form -------------------------------------------------------------

GOOD_URLS = [
    "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXX",
    "http://127.0.0.1:8123/services/T1/B1/secret",
    "HTTPS://hooks.slack.com/services/T/B/x",
    "https://user:pw@hooks.example.org:8443/p?q=1#frag",
]
BAD_URLS = [
    "not a url at all",
    "",
    "hooks.slack.com/services/T/B/x",
    "ftp://hooks.slack.com/services/T/B/x",
    "https://",
    "https:// hooks.slack.com/x",
    "https://hooks.slack.com/services/T/B/x y",
    "javascript:alert(1)",
    "http://:80/x",
    "https://hooks.slack.com/" + "x" * 2100,
]


def _python_accepts(url: str) -> bool:
    try:
        validate_webhook_url(url)
    except ValueError:
        return False
    return True


def _form_errors(schema: dict[str, Any], url: str) -> list[Any]:
    return validate({"webhook_url": url}, schema)


@pytest.mark.parametrize("url", GOOD_URLS + BAD_URLS)
def test_form_and_python_agree_on_webhook_urls(url: str) -> None:
    schema = SlackAlertsWebhook.model_json_schema()
    assert (not _form_errors(schema, url)) == _python_accepts(url) == (url in GOOD_URLS)


@given(st.from_regex(WEBHOOK_URL_PATTERN, fullmatch=True))
def test_what_the_form_accepts_loads(url: str) -> None:
    if url == "*" * 8 or len(url) > 2048:  # the UI's "unchanged secret"; maxLength
        return
    assert _python_accepts(url), url


def _registered_schema(block: type[Block]) -> dict[str, Any]:
    """The block schema's fields as the UI gets them: from the server."""
    block.register_type_and_schema()
    with get_client(sync_client=True) as client:
        block_type = client.read_block_type_by_slug(block.get_block_type_slug())
        schema = client.get_most_recent_block_schema_for_block_type(block_type.id)
    assert schema is not None
    return dict(schema.fields)


def test_the_form_refuses_a_bad_url_on_the_server(prefect_api: str) -> None:
    schema = _registered_schema(SlackAlertsWebhook)

    def check(url: str) -> dict[str, Any]:
        response = httpx.post(
            f"{prefect_api}/ui/schemas/validate",
            json={"schema": schema, "values": {"webhook_url": url}},
            timeout=30,
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    refused = check("not a url at all")
    assert refused["valid"] is False and "webhook_url" in str(refused["errors"])
    assert check(GOOD_URLS[0])["valid"] is True
    # Editing a saved block: the UI sends the secret back masked; that must still save.
    assert check("*" * 8)["valid"] is True


# -- a bad URL saved anyway (the API does not validate) --------------------------------------


def _save_raw(block: type[Block], name: str, data: dict[str, Any]) -> str:
    """Write a block document through the API, as the UI does: no Python validators run."""
    block.register_type_and_schema()
    with get_client(sync_client=True) as client:
        block_type = client.read_block_type_by_slug(block.get_block_type_slug())
        schema = client.get_most_recent_block_schema_for_block_type(block_type.id)
        assert schema is not None
        response = client.request(
            "POST",
            "/block_documents/",
            json={
                "name": name,
                "data": data,
                "block_schema_id": str(schema.id),
                "block_type_id": str(block_type.id),
            },
        )
    response.raise_for_status()
    return str(response.json()["id"])


def _send_test(name: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", "send-test", "--block", name],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_send_test_explains_a_bad_url_in_one_line(prefect_env: dict[str, str]) -> None:
    bad = "not a url at all"
    hook = unique("bad-hook")
    hook_id = _save_raw(SlackAlertsWebhook, hook, {"webhook_url": bad})
    router = unique("bad-router")
    _save_raw(SlackAlertsRouter, router, {"default": {"$ref": {"block_document_id": hook_id}}})
    fixes = {
        hook: ("webhook_url", f"`slack-alerts save-webhook {hook} --overwrite`"),
        router: ("default.webhook_url", "the webhook block its default route uses"),
    }
    for name, (field, fix) in fixes.items():
        done = _send_test(name, prefect_env)
        assert done.returncode == 1, done.stdout + done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        (line,) = lines
        assert line.startswith(f"error: The block '{name}' holds invalid values: {field}: ")
        assert "must be an http(s) URL" in line and fix in line
        assert "validate=False" not in line and bad not in line


# -- what the form and the block page show ---------------------------------------------------


def _properties(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every property of a block schema, nested block definitions included."""
    found = [(name, spec) for name, spec in schema["properties"].items()]
    for definition in (schema.get("definitions") or {}).values():
        found += [(n, s) for n, s in (definition.get("properties") or {}).items()]
    return found


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.__name__)
def test_form_labels_are_the_field_titles(block: type[Block]) -> None:
    schema = _registered_schema(block)
    definitions = schema.get("definitions") or {}
    for name, spec in _properties(schema):
        # The UI labels a $ref property with the referenced definition's title, so only
        # references to blocks (which the UI shows as a block picker) may use one.
        refs = [spec.get("$ref")] + [s.get("$ref") for s in spec.get("anyOf", [])]
        for ref in filter(None, refs):
            target = definitions[ref.rsplit("/", 1)[1]]
            assert "block_type_slug" in target, f"{name} refers to {ref}"
        assert spec.get("title"), name
    severities = [spec for name, spec in _properties(schema) if name == "min_severity"]
    assert severities
    for spec in severities:
        assert spec["title"] == "Minimum severity (when used as a route)"
        assert spec["enum"] == ["info", "warning", "critical"] and spec["default"] == "info"


def _page_snippet(block: type[Block], name: str) -> str:
    """The code the UI shows on a block's page (as the UI builds it from the block type)."""
    code_example = block.get_code_example() or ""
    found = re.search(r"```python([\s\S]*?)```", code_example)
    assert found, code_example
    return found.group(1).replace("BLOCK_NAME", name, 1).strip()


def test_the_block_pages_code_examples_load_that_block() -> None:
    with LocalWebhookServer() as server:
        hook = unique("page-hook")
        SlackAlertsWebhook(webhook_url=server.url).save(hook)  # type: ignore[arg-type]
        router = unique("page-router")
        SlackAlertsRouter(default=SlackAlertsWebhook.load(hook)).save(router)
        for block, name in ((SlackAlertsWebhook, hook), (SlackAlertsRouter, router)):
            snippet = _page_snippet(block, name)
            assert f'{block.__name__}.load("{name}")' in snippet
            assert "ml-alerts" not in snippet and "BLOCK_NAME" not in snippet
            namespace: dict[str, Any] = {}
            exec(compile(snippet, f"<{block.__name__} page>", "exec"), namespace)
        assert len(server.payloads()) == 1  # the webhook page's example posted once
        assert isinstance(namespace["webhook"], SlackAlertsWebhook)  # the router's example
