"""Credentials out of what Pantau says: URLs and free text bound for logs, topics, pages and exports.

A camera's source is often ``rtsp://user:password@host/stream`` (docs/configuration.md), and
OpenCV's and FFmpeg's errors repeat the URL they failed on; a webhook's URL may carry a token.
Whatever leaves the process (a camera-status record, an incident title, a push, the database, CAP,
``/api/v1/cameras/health``, a log line) goes through :func:`redact_credentials` first.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# scheme://user[:password]@ — the userinfo of any URL inside a text.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@'\"]+@")
# ?password=… &token=… and their usual spellings, in a URL's query.
_SECRET_PARAM = re.compile(
    r"(?P<key>[?&;](?:password|passwd|pwd|pass|token|access_token|api_key|apikey|key|secret|auth|signature)=)"
    r"[^&;#\s'\"]+",
    re.IGNORECASE,
)


def redact_credentials(text: str) -> str:
    """``text`` with the userinfo of every URL in it, and every ``?password=``-like query value, as ``***``."""
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    return _SECRET_PARAM.sub(r"\g<key>***", text)


def redact_url(url: str) -> str:
    """``scheme://host[:port]/path`` without credentials, query or fragment, for messages and logs."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return f"{parts.scheme}://{netloc}{parts.path}"


def redact_source(source: str) -> str:
    """A camera source fit to show: a URL without credentials or query; a device or file as it is."""
    return redact_url(source) if "://" in source else source
