"""Text hygiene for anything user-supplied that ends up in a Slack message.

Three separate concerns, applied in this order by the formatter:

1. ``redact_phi`` masks PHI/PII patterns so they never leave the process.
2. ``escape_mrkdwn`` neutralises Slack's control sequences (``<!channel>``,
   ``<@U123>``, ``<https://evil|click>``) and bare broadcast words.
3. ``truncate`` fits the result into a Block Kit limit without cutting an
   HTML entity in half.

Every regex here is written to run in linear time on hostile input: each
pattern either starts with a fixed token or with a look-behind that makes a
match start only at the beginning of a run, so the engine never rescans a run
from every position inside it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

ELLIPSIS = "…"

# The look-behind means a local part can only start where the previous
# character cannot belong to it, so a 10,000-character run with no "@" is
# scanned once instead of once per starting position.
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,8}\.[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
)
# Dashes or single spaces between the groups ("123-45-6789", "123 45 6789");
# a bare 9-digit run is left alone: in ML metadata it is usually an id.
_SSN = re.compile(r"(?<![\d\-])\d{3}([- ])\d{2}\1\d{4}(?![\d\-])")
# A separator or a "(", or a +1 prefix, is required: bare 10-digit runs are
# usually ids or epoch timestamps in ML metadata, not phone numbers.
_PHONE = re.compile(
    r"(?<![\d+])(?:\+?1[ .\-]?)?(?:\(\d{3}\)[ .\-]?|\d{3}[ .\-])\d{3}[ .\-]\d{4}(?!\d)"
    r"|(?<![\d+])\+1[ .\-]?\d{10}(?!\d)"
)
# The identifier must hold a digit: "mrn pattern(s)" is a sentence about
# MRNs, not an MRN, and redacting words about PHI makes reports unreadable.
_MRN = re.compile(
    r"\b(MRN|medical[ _\-]record(?:[ _\-](?:number|no|nr|#))?)([ \t]{0,3}[:#=.]?[ \t]{0,3})"
    r"(?=[A-Z\-]{0,19}\d)[A-Z0-9\-]{4,20}\b",
    re.I,
)
# A date is PHI next to a birth label only: alert text is full of other dates.
_BIRTH_DATE = re.compile(
    r"\b(DOB|D\.O\.B\.?|date[ _\-]of[ _\-]birth|birth[ _\-]?date|born(?: on)?)"
    r"([ \t]{0,3}[:#=]?[ \t]{0,3})"
    r"(?:\d{1,4}[/\-.]\d{1,2}[/\-.]\d{1,4}"
    r"|\d{1,2} [A-Za-z]{3,9} \d{4}|[A-Za-z]{3,9} \d{1,2},? \d{4})",
    re.I,
)

PHI_PATTERNS: dict[str, re.Pattern[str]] = {
    "ssn": _SSN,
    "email": _EMAIL,
    "phone": _PHONE,
}


def redact_phi(text: str) -> str:
    """Mask emails, US phone numbers, SSNs and MRN-like identifiers.

    The replacement names the kind (``[EMAIL]``) so a reader knows what was
    there without seeing it.
    """
    if not text:
        return text
    out = _MRN.sub(lambda m: f"{m.group(1)}{m.group(2)}[MRN]", text)
    out = _BIRTH_DATE.sub(lambda m: f"{m.group(1)}{m.group(2)}[DOB]", out)
    out = _SSN.sub("[SSN]", out)
    if "@" in out:
        out = _EMAIL.sub("[EMAIL]", out)
    out = _PHONE.sub("[PHONE]", out)
    return out


def find_phi(text: str) -> list[str]:
    """Return the kinds of PHI found in ``text`` (never the values)."""
    kinds = [kind for kind, pattern in PHI_PATTERNS.items() if pattern.search(text)]
    if _MRN.search(text):
        kinds.append("mrn")
    if _BIRTH_DATE.search(text):
        kinds.append("birth_date")
    return kinds


def valid_unicode(text: str) -> str:
    """``text`` as valid Unicode: a surrogate pair becomes its character, a lone one U+FFFD.

    JSON's ``\\ud800`` escapes decode to lone surrogates that cannot be
    encoded as UTF-8, so Slack, JSON files and hashes would fail on them.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def valid_unicode_json(value: Any) -> Any:
    """A JSON-like value with every string (keys too) made valid Unicode."""
    if isinstance(value, str):
        return valid_unicode(value)
    if isinstance(value, dict):
        return {valid_unicode_json(k): valid_unicode_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [valid_unicode_json(v) for v in value]
    return value


_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.I)


def escape_mrkdwn(text: str) -> str:
    """Escape ``& < >`` so Slack shows user text literally.

    Escaping ``<`` and ``>`` is what stops ``<!channel>``, ``<@U123>`` and
    ``<https://evil|click>`` from being parsed. A word joiner after ``@`` also
    defuses bare ``@channel`` for clients that parse it with ``link_names``.
    """
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: "@\u2060" + m.group(1), escaped)


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters, ending with an ellipsis.

    Never leaves half an entity (``&am…``) behind, which Slack would show
    as garbage.
    """
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&", max(0, len(cut) - 5))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + ELLIPSIS


def single_line(text: str) -> str:
    """Collapse whitespace runs (headers and button labels are one line)."""
    return " ".join(text.split())


_SLACK_WEBHOOK_PATH = re.compile(r"/services/(T)[A-Za-z0-9_\-]*/(B)[A-Za-z0-9_\-]*/[A-Za-z0-9_\-]+")
# Slack tokens: bot (xoxb), user (xoxp), app-level (xapp), legacy and refresh ones.
_SLACK_TOKEN = re.compile(r"\b(xox[abposre]|xapp)-[A-Za-z0-9\-]{6,}")
# The password of a URL's userinfo: postgresql://user:pw@host/db. Also after "scheme:/"
# (pathlib turns "://" into ":/") and with "@" inside the password (the last "@" of the
# word ends it); s3://KEY:SECRET@bucket alike.
_URL_PASSWORD = re.compile(
    r"(?P<prefix>\b[A-Za-z][A-Za-z0-9+.\-]{0,30}:/{1,2})(?P<user>[^\s:/@]{0,256}):"
    r"(?P<password>\S{1,256})@(?=[^\s@]*(?:\s|$|[\"'`),;\]]))"
)
# Slack's workflow and trigger webhooks carry their secret in the path too.
_SLACK_WORKFLOW_PATH = re.compile(r"(hooks\.slack\.com/(?:workflows|triggers))/[A-Za-z0-9_\-/]+")
# An HTTP bearer token, and a password given as a setting (password=..., pwd: ...).
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=\-]{8,}")
_PASSWORD_SETTING = re.compile(
    r"(?i)\b(password|passwd|pwd|api[_-]?key)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s;,&'\"]+)"
)
REDACTED = "***"


def redact_url(url: str) -> str:
    """Show where a webhook points without its secret path.

    ``https://hooks.slack.com/services/T0/B0/XYZ`` becomes
    ``https://hooks.slack.com/services/T…/B…/***``; any other URL keeps only
    its scheme and host.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:
        return REDACTED
    scheme = parts.scheme or "?"
    if _SLACK_WEBHOOK_PATH.fullmatch(parts.path):
        return f"{scheme}://{host}/services/T{ELLIPSIS}/B{ELLIPSIS}/{REDACTED}"
    return f"{scheme}://{host}/{REDACTED}"


def redact_secrets(text: str, secrets: tuple[str, ...] | list[str] = ()) -> str:
    """Remove secrets from free text: exception messages, response bodies, logs.

    ``secrets`` are full URLs, paths or tokens known to be secret; whatever
    is *shaped* like one is removed even when it is not listed: Slack webhook
    paths (``/services/T…/B…/…``) and workflow or trigger webhook paths, Slack
    tokens (``xoxb-…``, ``xapp-…``), the password of a URL
    (``postgresql://user:***@host``, also ``scheme:/`` as ``pathlib`` writes it and
    with ``@`` inside the password), bearer tokens, and ``password=…`` /
    ``pwd: …`` / ``api_key=…`` settings.
    """
    for secret in secrets:
        if not secret:
            continue
        if secret in text:
            text = text.replace(secret, redact_url(secret) if "://" in secret else REDACTED)
        path = urlsplit(secret).path if "://" in secret else ""
        if len(path) > 1 and path in text:
            text = text.replace(path, "/" + REDACTED)
    if "/services/" in text:
        text = _SLACK_WEBHOOK_PATH.sub(f"/services/T{ELLIPSIS}/B{ELLIPSIS}/{REDACTED}", text)
    if "xox" in text or "xapp" in text:
        text = _SLACK_TOKEN.sub(lambda m: f"{m.group(1)}-{REDACTED}", text)
    if ":/" in text and "@" in text:
        text = _URL_PASSWORD.sub(lambda m: f"{m['prefix']}{m['user']}:{REDACTED}@", text)
    if "hooks.slack.com/" in text:
        text = _SLACK_WORKFLOW_PATH.sub(lambda m: f"{m.group(1)}/{REDACTED}", text)
    lowered = text.lower()
    if "bearer" in lowered:
        text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    if "pass" in lowered or "pwd" in lowered or "key" in lowered:
        text = _PASSWORD_SETTING.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return text


def looks_like_secret(text: str) -> bool:
    """True when ``text`` holds something shaped like a secret (see ``redact_secrets``)."""
    return redact_secrets(text) != text


def untrusted_text(text: str, limit: int = 300) -> str:
    """Text from outside (a response body, a third-party error) made safe to keep.

    Secrets are removed, whitespace collapsed and the result cut to ``limit``
    characters, so no sink (logs, state, events, Slack) can echo a secret
    that a server or library repeated back.
    """
    return truncate(single_line(redact_secrets(text)), limit)


def redact_json(value: Any) -> Any:
    """A JSON-like value with PHI and secrets removed from every string in it."""
    if isinstance(value, str):
        return redact_secrets(redact_phi(value))
    if isinstance(value, dict):
        return {redact_json(str(k)): redact_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_json(v) for v in value]
    return value


def safe_http_url(url: str, *, max_length: int = 3000) -> str | None:
    """Return ``url`` if it is a usable http(s) button URL, else None.

    Truncating a URL would send people somewhere else, so an overlong URL is
    dropped rather than cut.
    """
    if not url or len(url) > max_length or any(ch.isspace() for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return url
