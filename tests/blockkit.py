"""An independent checker of Slack's Block Kit limits, used by the tests.

Written from Slack's reference, not from our formatter, so a formatter bug
cannot hide behind a shared constant.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

LIMITS = {
    "blocks": 50,
    "header": 150,
    "section_text": 3000,
    "fields": 10,
    "field_text": 2000,
    "context_elements": 10,
    "button_text": 75,
    "button_url": 3000,
    "text": 4000,
}

# A Slack control sequence that would ping or disguise a link.
CONTROL = re.compile(r"<[!@#]|<https?:|<mailto:", re.I)


def problems(payload: dict[str, Any], *, allowed_mentions: tuple[str, ...] = ()) -> list[str]:
    out: list[str] = []
    json.dumps(payload, allow_nan=False)  # must be strict JSON
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip():
        out.append("text missing")
    elif len(text) > LIMITS["text"]:
        out.append(f"text {len(text)} > 4000")
    blocks = list(payload.get("blocks", []))
    for att in payload.get("attachments", []):
        blocks.extend(att.get("blocks", []))
    if len(blocks) > LIMITS["blocks"]:
        out.append(f"{len(blocks)} blocks > 50")
    strings: list[str] = [text or ""]
    for b in blocks:
        kind = b["type"]
        if kind == "header":
            t = b["text"]
            if t["type"] != "plain_text" or len(t["text"]) > LIMITS["header"] or not t["text"]:
                out.append(f"bad header {len(t['text'])}")
            strings.append(t["text"])
        elif kind == "section":
            if "text" in b:
                if len(b["text"]["text"]) > LIMITS["section_text"] or not b["text"]["text"]:
                    out.append("section text too long or empty")
                strings.append(b["text"]["text"])
            fields = b.get("fields", [])
            if len(fields) > LIMITS["fields"]:
                out.append(f"{len(fields)} fields > 10")
            for f in fields:
                if len(f["text"]) > LIMITS["field_text"] or not f["text"]:
                    out.append("field too long or empty")
                strings.append(f["text"])
            if "text" not in b and not fields:
                out.append("empty section")
        elif kind == "context":
            els = b["elements"]
            if not els or len(els) > LIMITS["context_elements"]:
                out.append(f"{len(els)} context elements")
            strings.extend(e["text"] for e in els)
        elif kind == "actions":
            for e in b["elements"]:
                if len(e["text"]["text"]) > LIMITS["button_text"]:
                    out.append("button text too long")
                url = e["url"]
                if len(url) > LIMITS["button_url"] or urlsplit(url).scheme not in ("http", "https"):
                    out.append(f"bad button url {url[:40]!r}")
                strings.append(e["text"]["text"])
        else:
            out.append(f"unexpected block {kind}")
    for s in strings:
        stripped = s
        for mention in allowed_mentions:
            stripped = stripped.replace(mention, "")
        if CONTROL.search(stripped):
            out.append(f"control sequence in {s[:60]!r}")
    return out


def all_text(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)
