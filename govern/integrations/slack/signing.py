"""Slack request signing (v0): HMAC-SHA256 over `v0:{timestamp}:{raw body}` with the app's signing secret.

Verification is slack_sdk's `SignatureVerifier` (constant-time compare, and a timestamp older or newer than five
minutes is refused); `sign` and `signed_headers` build the same headers for the stand-in, tests and benchmarks.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Mapping

from slack_sdk.signature import SignatureVerifier

TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"


def sign(signing_secret: str, body: bytes, timestamp: int | str) -> str:
    """The `X-Slack-Signature` value Slack would send for this body and timestamp."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(signing_secret: str, body: bytes, *, timestamp: int | None = None,
                   content_type: str = "application/x-www-form-urlencoded") -> dict[str, str]:
    """Headers of a request from Slack: content type, timestamp and signature (now, unless a timestamp is given)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": content_type,
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(signing_secret, body, timestamp),
    }


def verify(signing_secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    """True when the request carries a valid v0 signature and a timestamp within five minutes of now."""
    timestamp = headers.get(TIMESTAMP_HEADER)
    signature = headers.get(SIGNATURE_HEADER)
    if not timestamp or not signature or not signing_secret:
        return False
    try:
        int(timestamp)
    except ValueError:
        return False
    return SignatureVerifier(signing_secret).is_valid(body=body, timestamp=timestamp, signature=signature)
