"""Verified API keys kept in memory, trusted only while no credential changed anywhere.

The rows an API key's check reads (the key and its manager) are kept per key prefix with the
watch's token taken before they were read; they are used again only while the token is the
same, i.e. while no process has changed any API key or manager since (a revocation, a
rotation, a manager disabled or given other rights, a key's last-used stamp). Every rule is
checked again on every request from those rows (core.access.keys.verify_key): the
secret's hash, revocation and expiry against the current time, the manager being enabled,
the effective scopes. Only rows of keys that exist are kept, so a caller cannot fill the
memory with made-up prefixes, and it is bounded all the same. cTrader's manager tokens are
kept the same way (by the token's hash; core.access.tokens.verify_token checks them).
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

from brokerplane.core.ports import CredentialWatch

Found = TypeVar("Found")

MAX_KEYS = 10_000


class VerifiedKeys(Generic[Found]):
    """Kept rows by a public name (an API key's prefix, a manager token's hash)."""

    def __init__(self, watch: CredentialWatch, max_keys: int = MAX_KEYS) -> None:
        self._watch = watch
        self._max = max_keys
        self._kept: dict[str, tuple[object, Found]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def token(self) -> object | None:
        """The watch's token before a read of the rows (may connect): what they are kept with."""
        return self._watch.token(connect=True)

    def get(self, prefix: str) -> Found | None:
        """The rows kept for `prefix` if nothing changed since they were read, by any process,
        before this call; never opens a connection (a watch that is not connected answers
        None), but on PostgreSQL makes one round trip on the watch's own."""
        kept = self._kept.get(prefix)
        if kept is None:
            self.misses += 1
            return None
        token = self._watch.token(connect=False)
        if token is None or token != kept[0]:
            self.misses += 1
            with self._lock:
                if self._kept.get(prefix) is kept:
                    del self._kept[prefix]
            return None
        self.hits += 1
        return kept[1]

    def keep(self, prefix: str, token: object | None, found: Found) -> None:
        if token is None:
            return
        with self._lock:
            if len(self._kept) >= self._max:
                self._kept.clear()
            self._kept[prefix] = (token, found)

    def forget(self) -> None:
        """After a change made here: at once, without waiting for the watch to tell."""
        with self._lock:
            self._kept.clear()
