"""Native authentication: a bearer API key plus x-operator-id becomes the request's Actor."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from brokerplane.api.kit.appstate import app_state
from brokerplane.api.kit.ratelimit import Allowance, SharedTake
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import KeyIdentity
from brokerplane.core.actor import Actor
from brokerplane.core.errors import RateLimited, Unauthorized, ValidationError
from brokerplane.core.kinds import Dialect

MAX_OPERATOR_ID = 127
_PREFIX = re.compile(r"[0-9a-f]{12}")
log = logging.getLogger("brokerplane.auth")


class AuthFailures:
    """Failed authentications by reason, counted for this process and logged without secrets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def record(self, reason: str, presented: str, ip: str | None) -> None:
        parts = presented.split("_", 2)
        # Only the public prefix of a well-formed key is logged, never the secret part.
        well_formed = len(parts) == 3 and parts[0] == "bpk" and _PREFIX.fullmatch(parts[1])
        prefix = parts[1] if well_formed else "-"
        with self._lock:
            self.counts[reason] += 1
            total = sum(self.counts.values())
        log.warning(
            "native authentication failed: %s (key prefix %s, ip %s; %d failures so far)",
            reason,
            prefix,
            ip or "-",
            total,
        )


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = app_state(request).runtime
    return runtime


async def current_actor(request: Request) -> Actor:
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    ip = request.client.host if request.client else None
    failures: AuthFailures = app_state(request).auth_failures
    if not header:
        failures.record("no credential", "", ip)
        raise Unauthorized("send the manager key as 'Authorization: Bearer <key>'")
    if scheme.lower() != "bearer" or not presented.strip():
        failures.record("not a bearer credential", "", ip)
        raise Unauthorized("the Authorization header must be 'Bearer <key>'")
    operator_id = request.headers.get("x-operator-id")
    if operator_id is not None and len(operator_id) > MAX_OPERATOR_ID:
        raise ValidationError.field("x-operator-id", f"is longer than {MAX_OPERATOR_ID} characters")
    services = runtime_of(request).app
    limiter: RateLimiter = app_state(request).rate_limiter

    def authenticate() -> tuple[KeyIdentity, RateLimited | None]:
        """The key's identity, and the refusal when the key is over its rate limit (counted
        in the same worker thread: shared limits are a database statement)."""
        found = services.authenticate_key(presented.strip())
        try:
            limiter.check(found.key.id)
        except RateLimited as limited:
            return found, limited
        return found, None

    try:
        # Rows kept since an earlier check (nothing changed anywhere since) are checked here
        # on the event loop; otherwise the database is read in the thread pool, the rate limit
        # counted in the same worker thread.
        kept = services.authenticate_kept_key(presented.strip())
        if kept is None:
            identity, limited = await run_in_threadpool(authenticate)
        else:
            identity, limited = kept, None
            try:
                await limiter.admit(kept.key.id)
            except RateLimited as over:
                limited = over
    except Unauthorized as err:
        failures.record(err.detail, presented.strip(), ip)
        raise
    request.state.manager = identity.manager.login  # for the access log
    if limited is not None:
        raise limited
    return Actor(
        manager_login=identity.manager.login,
        scopes=identity.scopes,
        key_id=identity.key.id,
        group_mask=identity.manager.group_mask,
        white_labels=identity.manager.white_labels,
        operator_id=operator_id,
        request_id=getattr(request.state, "request_id", None),
        dialect=Dialect.NATIVE,
        ip=ip,
    )


class RateLimiter(Allowance):
    """Allows `per_minute` requests a minute per key, in bursts of up to `per_minute`; 0 turns
    the limit off. With `shared` (PostgreSQL, or several workers) every process over the
    database counts against one allowance per key; otherwise this process keeps its own."""

    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedTake | None = None,
    ) -> None:
        super().__init__(per_minute, 60.0, clock=clock, shared=shared, namespace="native")
        self.per_minute = per_minute
