"""Checking what a webhook receiver is sent: the signature, then the batch of events.

brokerplane signs each delivery with the subscription's secret:

    X-Brokerplane-Timestamp: <unix seconds>
    X-Brokerplane-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

Check the raw body bytes as received, before parsing them:

    from brokerplane.client import parse_webhook, verify_signature

    if not verify_signature(SECRET, request.headers, raw_body):
        return 401
    batch = parse_webhook(raw_body)
    for event in batch.events:  # in event id order; `event.id` is the idempotency key
        ...
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping

from pydantic import Field

from brokerplane.client import errors
from brokerplane.client._http import model_decoder
from brokerplane.client.models import Event, _Model

SIGNATURE_HEADER = "X-Brokerplane-Signature"
TIMESTAMP_HEADER = "X-Brokerplane-Timestamp"
SUBSCRIPTION_HEADER = "X-Brokerplane-Subscription"
DELIVERY_HEADER = "X-Brokerplane-Delivery"
# Refuse a delivery whose timestamp is further than this from the receiver's clock (seconds):
# a captured request replayed later fails.
DEFAULT_TOLERANCE = 300.0
_MAX_HEADER = 1024


class WebhookBatch(_Model):
    """What one delivery carries: the subscription's id and its events, oldest first."""

    subscription: int
    events: list[Event] = Field(default_factory=list)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp` (Unix seconds)."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str:
    found = headers.get(name)
    if found is None:
        wanted = name.lower()
        found = next((v for k, v in headers.items() if k.lower() == wanted), "")
    return found if isinstance(found, str) and len(found) <= _MAX_HEADER else ""


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Whether `body` (the raw bytes received) was signed with `secret` at a time within
    `tolerance` seconds of `now` (default: this machine's clock). `headers` is the request's
    headers, any case (a dict, or your framework's header mapping). Compares in constant time;
    a signature header listing several `v1=` values (comma-separated) passes if one matches."""
    if not secret:
        raise ValueError("the subscription's secret is required")
    if not isinstance(body, bytes | bytearray):
        raise TypeError("body is the raw bytes of the request, before any parsing")
    stamp = _header(headers, TIMESTAMP_HEADER).strip()
    given = _header(headers, SIGNATURE_HEADER)
    if not stamp.isdigit() or len(stamp) > 12 or not given:
        return False
    clock = time.time() if now is None else now
    if abs(clock - int(stamp)) > tolerance:
        return False
    want = sign(secret, int(stamp), bytes(body))
    found = False
    for candidate in given.split(","):
        found |= hmac.compare_digest(candidate.strip().encode(), want.encode())
    return found


def parse_webhook(body: bytes) -> WebhookBatch:
    """The delivery's events, typed (verify the signature first)."""
    try:
        data = json.loads(body)
    except ValueError:
        raise errors.InvalidResponse("the webhook body is not JSON") from None
    batch: WebhookBatch = model_decoder(WebhookBatch)(data)
    return batch
