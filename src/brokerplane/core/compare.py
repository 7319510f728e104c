"""Comparing secrets in constant time, whatever text the caller sent.

`hmac.compare_digest` raises TypeError for a `str` holding anything but ASCII, so a signature
or handshake answer such as `éééé` would end as a server error instead of a refusal. `same`
compares the UTF-8 bytes instead (a lone surrogate included), so such text is simply unequal.
"""

from __future__ import annotations

import hmac


def same(given: str | bytes, expected: str | bytes) -> bool:
    """Whether two secrets are equal, compared in constant time; never raises for odd text."""
    return hmac.compare_digest(_bytes(given), _bytes(expected))


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
