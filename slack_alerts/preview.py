"""Render the local preview outbox as one static HTML page that looks like Slack.

Payload text is Slack mrkdwn, already escaped for Slack (``&lt;``). To show
it, we undo Slack's three entities, HTML-escape the result, and only then
turn a safe subset of mrkdwn (``*bold*``, `` `code` ``, line breaks) into
tags, so text that was escaped for Slack stays inert text in the browser.
"""

from __future__ import annotations

import html
import os
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from slack_alerts.notify.preview import default_outbox_dir, read_outbox
from slack_alerts.outbox import DurableOutbox, OutboxRecord

_BOLD = re.compile(r"\*([^*\n]{1,500})\*")
_CODE = re.compile(r"`([^`\n]{1,500})`")
_EMOJI = {
    ":warning:": "⚠️",
    ":rotating_light:": "🚨",
    ":information_source:": "\u2139\ufe0f",
    ":mute:": "🔇",
    ":white_check_mark:": "✅",
}


def _slack_to_plain(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def render_mrkdwn(text: str) -> str:
    """Slack mrkdwn (already Slack-escaped) as safe HTML."""
    safe = html.escape(_slack_to_plain(text), quote=True)
    for code, glyph in _EMOJI.items():
        safe = safe.replace(code, glyph)
    safe = _CODE.sub(r"<code>\1</code>", safe)
    safe = _BOLD.sub(r"<b>\1</b>", safe)
    return safe.replace("\n", "<br>")


def _render_text(element: dict[str, Any]) -> str:
    text = str(element.get("text", ""))
    if element.get("type") == "plain_text":
        plain = html.escape(_slack_to_plain(text))
        for code, glyph in _EMOJI.items():
            plain = plain.replace(code, glyph)
        return plain
    return render_mrkdwn(text)


def _render_block(block: dict[str, Any]) -> str:
    kind = block.get("type")
    if kind == "header":
        return f'<div class="header">{_render_text(block["text"])}</div>'
    if kind == "section":
        parts = []
        if "text" in block:
            parts.append(f'<div class="section">{_render_text(block["text"])}</div>')
        if block.get("fields"):
            cells = "".join(f'<div class="field">{_render_text(f)}</div>' for f in block["fields"])
            parts.append(f'<div class="fields">{cells}</div>')
        return "".join(parts)
    if kind == "context":
        items = " · ".join(_render_text(e) for e in block.get("elements", []))
        return f'<div class="context">{items}</div>'
    if kind == "actions":
        buttons = "".join(_render_button(e) for e in block.get("elements", []))
        return f'<div class="actions">{buttons}</div>'
    return ""


def _render_button(element: dict[str, Any]) -> str:
    if not isinstance(element, dict) or not isinstance(element.get("text"), dict):
        return ""
    label = _render_text(element["text"])
    url = str(element.get("url", ""))
    if url.startswith(("http://", "https://")):
        return (
            f'<a class="button" href="{html.escape(url, quote=True)}" '
            f'rel="noopener noreferrer" target="_blank">{label}</a>'
        )
    if element.get("action_id"):
        # An interactive button (Acknowledge, Silence): it acts in Slack, not here.
        action = html.escape(str(element["action_id"]), quote=True)
        return (
            f'<span class="button interactive" data-action-id="{action}" '
            f'title="acts in Slack">{label}</span>'
        )
    return ""


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _render_reply(reply: Any) -> str:
    payload = reply.get("payload") if isinstance(reply, dict) else None
    if not isinstance(payload, dict):
        return ""
    written = datetime.fromtimestamp(int(reply.get("written_at_ns", 0)) / 1e9, UTC)
    return (
        f'<div class="reply"><span class="meta">{written:%H:%M:%S} UTC</span> '
        f"{render_mrkdwn(str(payload.get('text', '')))}</div>"
    )


def _render_message(record: dict[str, Any]) -> str:
    payload = record.get("payload", {})
    attachments = payload.get("attachments") or [{}]
    color = str(attachments[0].get("color", "#DDDDDD"))
    if not re.fullmatch(r"#[0-9A-Fa-f]{6}", color):
        color = "#DDDDDD"
    blocks = list(payload.get("blocks", []))
    for attachment in attachments:
        blocks.extend(attachment.get("blocks", []))
    body = "".join(_render_block(b) for b in blocks) or (
        f'<div class="section">{render_mrkdwn(str(payload.get("text", "")))}</div>'
    )
    written = datetime.fromtimestamp(int(record.get("written_at_ns", 0)) / 1e9, UTC)
    meta = html.escape(
        f"{record.get('severity', 'message')} · {record.get('kind', '')} · "
        f"{record.get('model_id', '')} · {written:%Y-%m-%d %H:%M:%S} UTC"
    )
    fallback = render_mrkdwn(str(payload.get("text", "")))
    edits = _listed(record.get("edits"))
    if edits:
        meta += html.escape(f" · edited {len(edits)} time{'s' if len(edits) != 1 else ''}")
    replies = _listed(record.get("replies"))
    thread = "".join(_render_reply(r) for r in replies)
    if thread:
        noun = "reply" if len(replies) == 1 else "replies"
        thread = f'<div class="thread"><div class="meta">{len(replies)} {noun}</div>{thread}</div>'
    return (
        f'<article class="message" data-severity="{html.escape(str(record.get("severity", "")))}">'
        f'<div class="bot">{html.escape(str(payload.get("username") or "slack-alerts"))}'
        f'<span class="meta">{meta}</span></div>'
        f'<div class="fallback">{fallback}</div>'
        f'<div class="attachment" style="border-left-color:{color}">{body}</div>{thread}'
        "</article>"
    )


_STYLE = """
body{font-family:-apple-system,'Segoe UI',Lato,Helvetica,Arial,sans-serif;background:#f8f8f8;
margin:0;color:#1d1c1d}
main{max-width:880px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}\nh2{font-size:17px;margin:18px 0 4px}
.summary{margin:12px 0 20px;border-collapse:collapse;background:#fff}
.summary td,.summary th{border:1px solid #ddd;padding:4px 10px;font-size:13px;text-align:left}
.message{background:#fff;border:1px solid #e2e2e2;border-radius:8px;padding:12px 16px;
margin:0 0 14px}
.bot{font-weight:700;font-size:15px}.meta{font-weight:400;color:#616061;font-size:12px;
margin-left:8px}
.fallback{margin:4px 0 8px;font-size:15px}
.attachment{border-left:4px solid #ddd;padding:4px 12px}
.header{font-size:18px;font-weight:700;margin:4px 0 8px}
.section{margin:6px 0;font-size:15px;line-height:1.4}
.fields{display:grid;grid-template-columns:1fr 1fr;gap:6px 24px;margin:6px 0;font-size:15px}
.context{color:#616061;font-size:12px;margin:8px 0}
.actions{margin:8px 0}
.button{display:inline-block;border:1px solid #bbb;border-radius:4px;padding:4px 12px;
margin-right:8px;color:#1d1c1d;text-decoration:none;font-weight:700;font-size:13px}
.interactive{background:#f4f4f4;cursor:default}
.thread{margin:8px 0 0 16px;border-left:2px solid #e2e2e2;padding-left:10px;font-size:14px}
.reply{margin:4px 0}
code{background:#f1f1f1;border:1px solid #ddd;border-radius:3px;padding:0 3px;color:#e01e5a}
"""


def _alert_counts(record: dict[str, Any]) -> Counter[str]:
    """Alerts a preview record carries, per severity; resolved notices and free text apart."""
    kind = str(record.get("kind", "message"))
    if kind == "message":
        return Counter({"message": 1})
    if kind == "resolved":
        return Counter({"resolved": int(record.get("alerts") or 1)})
    by_severity = record.get("by_severity")
    if isinstance(by_severity, dict) and by_severity:
        return Counter({str(k): int(v) for k, v in by_severity.items()})
    return Counter({str(record.get("severity", "info")): int(record.get("alerts") or 1)})


def _undelivered_section(records: list[OutboxRecord], dead: list[OutboxRecord]) -> str:
    if not records and not dead:
        return ""
    rows = []
    for label, group in (("waiting for replay", records), ("refused (dead letter)", dead)):
        for record in group:
            rows.append(
                "<tr>"
                + "".join(
                    f"<td>{html.escape(str(cell))}</td>"
                    for cell in (
                        label,
                        f"{record.created:%Y-%m-%d %H:%M} UTC",
                        record.model_id,
                        record.size,
                        record.reason,
                        record.error or "",
                    )
                )
                + "</tr>"
            )
    return (
        "<h2>Not delivered</h2><div>Kept in the durable outbox; "
        "<code>slack-alerts replay</code> delivers them (<code>--dead</code> after fixing "
        "what Slack refused).</div><table class='summary undelivered'><tr><th>state</th>"
        "<th>since</th><th>model</th><th>alerts</th><th>reason</th><th>error</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def render_outbox(
    records: list[dict[str, Any]],
    title: str = "slack-alerts preview",
    undelivered: DurableOutbox | None = None,
) -> str:
    """The whole page: alerts per model and severity, undelivered alerts, then the
    messages, newest first."""
    counts: dict[str, Counter[str]] = {}
    for record in records:
        counts.setdefault(str(record.get("model_id", "")), Counter()).update(_alert_counts(record))
    columns = ["critical", "warning", "info", "resolved", "message"]
    head = "".join(f"<th>{c}</th>" for c in columns)
    rows = "".join(
        f"<tr><td>{html.escape(model) or '(none)'}</td>"
        + "".join(f"<td>{counts[model].get(c, 0)}</td>" for c in columns)
        + "</tr>"
        for model in sorted(counts)
    )
    total_alerts = sum(
        n for c in counts.values() for k, n in c.items() if k not in ("message", "resolved")
    )
    newest_first = sorted(records, key=lambda r: int(r.get("written_at_ns", 0)), reverse=True)
    messages = "".join(_render_message(r) for r in newest_first)
    kept = _undelivered_section(
        undelivered.pending() if undelivered else [],
        undelivered.dead_letters() if undelivered else [],
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body><main>"
        f"<h1>{html.escape(title)}</h1><div>{total_alerts} alert(s) in {len(records)} "
        "message(s), newest first.</div>"
        f"<table class='summary'><tr><th>model</th>{head}</tr>{rows}</table>"
        f"{kept}{messages}</main></body></html>"
    )


def write_preview(
    directory: str | os.PathLike[str] | None = None, undelivered: DurableOutbox | None = None
) -> Path:
    """Render ``directory``'s outbox to ``index.html`` inside it; returns its path.

    ``undelivered``: a durable outbox whose pending records and dead letters
    the page lists too.
    """
    folder = Path(directory) if directory is not None else default_outbox_dir()
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / "index.html"
    page.write_text(render_outbox(read_outbox(folder), undelivered=undelivered), encoding="utf-8")
    return page
