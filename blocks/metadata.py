"""What the Prefect UI shows for our block types: logo, documentation link, URL pattern."""

from __future__ import annotations

from pydantic import HttpUrl

# Prefect's own Slack logo, pinned to a commit so the image never changes under us.
LOGO_URL = HttpUrl(
    "https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/slack.png"
)
DOCUMENTATION_URL = HttpUrl("https://api.slack.com/messaging/webhooks")

# The webhook URL as the UI's form checks it (the UI validates its forms against
# the block's JSON schema through the server's /ui/schemas/validate, then writes the
# block document through the API, where no Python validator runs). Whatever this
# pattern accepts, slack_alerts.notify.webhook.validate_webhook_url accepts too: an http(s)
# URL with an ASCII host name, no whitespace. It is stricter on exotic forms (IPv6
# literals, non-ASCII hosts), which Slack webhooks never use. "********" is what the
# UI sends back for a secret it did not change when a block is edited; the server
# keeps the stored URL then.
MAX_WEBHOOK_URL_LENGTH = 2048
OBFUSCATED_VALUE_PATTERN = r"\*{8}"
WEBHOOK_URL_PATTERN = (
    r"^(?:" + OBFUSCATED_VALUE_PATTERN + r"|[Hh][Tt][Tt][Pp][Ss]?://"
    r"(?:[A-Za-z0-9._~!$&'()*+,;=%:-]*@)?"  # optional user info
    r"[A-Za-z0-9._~!$&'()*+,;=%-]+"  # host name (never empty)
    r"(?::[0-9]*)?"  # optional port
    r"(?:[/?#]\S*)?)$"  # path, query, fragment
)
