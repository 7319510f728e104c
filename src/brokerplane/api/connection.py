"""The transport connection a request arrived on, as brokerplane's listeners hand it to the app.

`brokerplane serve` gives every accepted connection a `Connection` (a process-unique id) and
puts it in each request's ASGI scope under `scope["extensions"]["brokerplane.connection"]`;
when the connection closes, the callbacks registered on it run (MT5 sessions end that way).
Unlike the scope's `client` address, which a trusted proxy's `X-Forwarded-For` may rewrite,
nothing a client sends can name another client's connection.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, MutableMapping
from typing import Any

log = logging.getLogger("brokerplane.api")

SCOPE_KEY = "brokerplane.connection"

_ids = itertools.count(1)
_ids_lock = threading.Lock()


class Connection:
    """One accepted transport connection: an id never reused in this process, and what to do
    when it closes."""

    __slots__ = ("_callbacks", "_closed", "id")

    def __init__(self) -> None:
        with _ids_lock:
            self.id: int = next(_ids)
        self._callbacks: dict[object, Callable[[], None]] = {}
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def on_close(self, callback: Callable[[], None], *, key: object | None = None) -> None:
        """Run `callback` when the connection closes (at once if it already has); a callback
        registered again under the same `key` replaces the earlier one."""
        if self._closed:
            callback()
            return
        self._callbacks[key if key is not None else object()] = callback

    def close(self) -> None:
        """The connection is gone: run the callbacks, once."""
        if self._closed:
            return
        self._closed = True
        callbacks, self._callbacks = self._callbacks, {}
        for callback in callbacks.values():
            try:
                callback()
            except Exception:  # one failing callback must not keep the others from running
                log.exception("a connection close callback failed")

    def __repr__(self) -> str:
        return f"Connection({self.id}{', closed' if self._closed else ''})"


def connection_of(scope: MutableMapping[str, Any]) -> Connection | None:
    """The connection of a request, when a brokerplane listener served it; None in-process
    (test clients) or under another ASGI server."""
    extensions = scope.get("extensions") or {}
    found = extensions.get(SCOPE_KEY)
    return found if isinstance(found, Connection) else None


def attach(scope: MutableMapping[str, Any], connection: Connection) -> None:
    """Put the connection in a request's scope (the listener does this for every request)."""
    extensions = scope.get("extensions")
    if extensions is None:
        extensions = scope["extensions"] = {}
    extensions[SCOPE_KEY] = connection
