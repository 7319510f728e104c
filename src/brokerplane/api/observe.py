"""What an operator sees of the running server: `/metrics` (Prometheus text, for keys with the
`metrics:read` scope) and the access log (one line per request, brokerplane.access at info).

`Observe` is a plain ASGI middleware around every request: it times the request, names it by
its dialect and route *template* (`/v1/users/{login}`, never the raw path, so the number of
series stays bounded), counts it, observes its latency and writes its access-log line. The
request's fields (id, dialect, manager) reach every other line logged while it is served
through `logs.REQUEST`. Dialects note the manager in `request.state.manager` once they know
who is calling; MT5 names its command in `request.state.route_template` (its commands share
one path pattern).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import brokerplane
from brokerplane import logs
from brokerplane.api.kit.appstate import app_state
from brokerplane.api.native.auth import current_actor
from brokerplane.api.native.wire import COMMON_ERRORS, NativeRoute
from brokerplane.core.actor import Actor
from brokerplane.core.events.model import Backlog
from brokerplane.metrics import BATCH_BUCKETS, CONTENT_TYPE, Registry, Sample

if TYPE_CHECKING:
    from brokerplane.bootstrap import Runtime

access_log = logging.getLogger(logs.ACCESS_LOGGER)
log = logging.getLogger("brokerplane.api")

METRICS_SCOPE = "metrics:read"
UNMATCHED = "unmatched"

# Path prefixes by dialect (the first that matches wins).
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("/v1/", "native"),
    ("/mt4/manager/", "native"),
    ("/api/", "mt5"),
    ("/v2/webserv/", "ctrader"),
    ("/webserv/", "ctrader"),
    ("/v2/cid/", "ctrader"),
    ("/cid/", "ctrader"),
    ("/proftrading/rest/", "traderevolution"),
)
# Methods a label may name; any other (a client may send any token) is counted as OTHER.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_OPS_PATHS = frozenset({"/health", "/ready", "/metrics", "/docs", "/openapi.json"})
_CONVERTOR = re.compile(r"\{(\w+):\w+\}")


def dialect_of(path: str, mt5_paths: frozenset[str] = frozenset()) -> str:
    """The dialect a path belongs to: native, mt5, ctrader, traderevolution, ops (probes,
    metrics, the OpenAPI document) or none."""
    for prefix, dialect in _PREFIXES:
        if path.startswith(prefix):
            return dialect
    if path in _OPS_PATHS:
        return "ops"
    if path in mt5_paths:  # MT5's legacy root aliases: /user_get, /auth_start, ...
        return "mt5"
    return "none"


class ServerMetrics:
    """The server's metrics: requests, latency, ledger operations, group commits, and gauges
    read from the runtime when scraped."""

    def __init__(self, runtime: Runtime, app_state: Any) -> None:
        self.runtime = runtime
        self.app_state = app_state
        self.started = time.time()
        self._backlog_read: Backlog | Exception | None = None
        self._render_lock = threading.Lock()
        registry = self.registry = Registry()
        registry.gauge(
            "brokerplane_build_info",
            "The running version (always 1)",
            lambda: [((brokerplane.__version__, runtime.storage.backend), 1)],
            ("version", "database"),
        )
        registry.gauge(
            "brokerplane_process_start_time_seconds",
            "When the server started (Unix time)",
            lambda: [((), self.started)],
        )
        labels = ("dialect", "route", "method", "status")
        self.requests = registry.counter(
            "brokerplane_http_requests_total",
            "HTTP requests answered, by dialect, route template, method and status",
            labels,
        )
        self.latency = registry.histogram(
            "brokerplane_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by dialect, route "
            "template and method",
            labels[:3],
        )
        self.in_flight = 0
        registry.gauge(
            "brokerplane_http_requests_in_flight",
            "HTTP requests being served now",
            lambda: [((), self.in_flight)],
        )
        self.tcp_commands = registry.counter(
            "brokerplane_mt5_tcp_commands_total",
            "Commands answered over the MT5 TCP protocol, by command",
            ("command",),
        )
        self.tcp_latency = registry.histogram(
            "brokerplane_mt5_tcp_command_duration_seconds",
            "Time to answer an MT5 TCP command, by command",
            ("command",),
        )
        self.ledger = registry.counter(
            "brokerplane_ledger_operations_total",
            "Ledger entries committed, by kind (deposit, withdrawal, credit_in, ..., trade)",
            ("kind",),
        )
        self.batches = registry.histogram(
            "brokerplane_group_commit_batch_size",
            "Money commands that shared one transaction and commit (group commit)",
            (),
            BATCH_BUCKETS,
        )
        self.db_errors = registry.counter(
            "brokerplane_db_errors_total",
            "Database errors by kind (disconnect, operational, integrity, pool_timeout, ...)",
            ("kind",),
        )
        registry.gauge(
            "brokerplane_db_pool_connections",
            "Database pool connections: size (kept open), checked_out (in use), checked_in "
            "(idle), overflow (beyond the size)",
            self._pool,
            ("state",),
        )
        if runtime.storage.replica is not None:
            registry.gauge(
                "brokerplane_replica_reads_total",
                "Lists, reports, exports and exposure read, by where they were served "
                "(replica, primary)",
                self._replica_reads,
                ("served_by",),
                kind="counter",
            )
            registry.gauge(
                "brokerplane_replica_up",
                "0 from a failure of the read replica until it serves a read again, else 1",
                lambda: [((), int(bool(self._replica_status()["replica_up"])))],
            )
            registry.gauge(
                "brokerplane_replica_lag_seconds",
                "The lag the newest replica-served read stated (an upper bound)",
                self._replica_lag,
            )
        registry.gauge(
            "brokerplane_approvals_pending",
            "Held money operations waiting for a second manager's decision",
            lambda: [((), runtime.app.count_pending_approvals())],
        )
        registry.gauge(
            "brokerplane_mt5_sessions_open",
            "Signed-in MT5 Web API sessions, by transport (http, tcp)",
            self._sessions,
            ("transport",),
        )
        registry.gauge(
            "brokerplane_mt5_tcp_connections_open",
            "Open connections of the MT5 TCP listener (signed in or not)",
            self._tcp_connections,
        )
        registry.gauge(
            "brokerplane_auth_failures_total",
            "Failed native API key authentications since the server started",
            self._auth_failures,
            kind="counter",
        )
        # events and webhooks
        self.events = registry.counter(
            "brokerplane_events_written_total",
            "Events written to the outbox (the feed and webhooks read them), by type",
            ("type",),
        )
        registry.gauge(
            "brokerplane_event_streams_open",
            "Server-Sent Events clients following the feed (GET /v1/events) now",
            self._streams,
        )
        self.deliveries = registry.counter(
            "brokerplane_webhook_deliveries_total",
            "Webhook delivery attempts by outcome: delivered (2xx), retrying (failed, tried "
            "again later), failed (failed past BROKERPLANE_WEBHOOK_RETRY_HOURS: parked)",
            ("outcome",),
        )
        self.delivery_latency = registry.histogram(
            "brokerplane_webhook_delivery_duration_seconds",
            "Time to deliver a batch of events to a webhook receiver (connect, send, answer)",
            ("outcome",),
        )
        registry.gauge(
            "brokerplane_webhook_subscriptions",
            "Webhook subscriptions by state: active, paused, failed (parked)",
            self._subscriptions,
            ("state",),
        )
        registry.gauge(
            "brokerplane_outbox_undelivered_events",
            "Events the furthest-behind webhook subscription (active or parked) has not "
            "received yet",
            lambda: [((), self._backlog().undelivered)],
        )
        registry.gauge(
            "brokerplane_outbox_oldest_undelivered_age_seconds",
            "Age of the oldest event a webhook subscription (active or parked) has not "
            "received yet (0: none owed)",
            self._oldest_age,
        )
        # the runtime tells these as they happen
        runtime.storage.on_ledger_commit = self._ledger_committed
        runtime.storage.on_error = self._db_error
        runtime.storage.on_events = self._events_written
        group_commit = runtime.app.group_commit
        if group_commit is not None:
            group_commit.on_batch = self._batch

    def _ledger_committed(self, kinds: list[str]) -> None:
        for kind in kinds:
            self.ledger.inc(kind)

    def _events_written(self, types: list[str]) -> None:
        for kind in types:
            self.events.inc(kind)

    def webhook_delivered(self, outcome: str, seconds: float) -> None:
        self.deliveries.inc(outcome)
        self.delivery_latency.observe(seconds, outcome)

    def _streams(self) -> Iterable[Sample]:
        streams = getattr(self.app_state, "event_streams", None)
        return [((), streams.open if streams is not None else 0)]

    def _backlog(self) -> Backlog:
        """The webhooks' backlog, read once per scrape (the gauges that show it share it, and
        share a failure too: a database that is down is asked once, not once a gauge)."""
        if self._backlog_read is None:
            try:
                self._backlog_read = self.runtime.app.webhook_backlog()
            except Exception as err:
                self._backlog_read = err
        if isinstance(self._backlog_read, Exception):
            raise self._backlog_read
        return self._backlog_read

    def _subscriptions(self) -> Iterable[Sample]:
        states = self._backlog().subscriptions
        return [((state,), states.get(state, 0)) for state in ("active", "paused", "failed")]

    def _oldest_age(self) -> Iterable[Sample]:
        oldest = self._backlog().oldest_at
        if oldest is None:
            return [((), 0)]
        return [((), max(0.0, time.time() - oldest.timestamp()))]

    def _db_error(self, kind: str) -> None:
        self.db_errors.inc(kind)

    def _batch(self, size: int) -> None:
        self.batches.observe(size)

    def _pool(self) -> Iterable[Sample]:
        return [((name,), value) for name, value in self.runtime.storage.pool_status().items()]

    def _replica_status(self) -> dict[str, float | int | bool | None]:
        replica = self.runtime.storage.replica
        return replica.status() if replica is not None else {}

    def _replica_reads(self) -> Iterable[Sample]:
        status = self._replica_status()
        return [
            (("replica",), int(status.get("replica_reads") or 0)),
            (("primary",), int(status.get("primary_reads") or 0)),
        ]

    def _replica_lag(self) -> Iterable[Sample]:
        lag = self._replica_status().get("last_lag")
        return [((), float(lag))] if lag is not None else []

    def _sessions(self) -> Iterable[Sample]:
        sessions = getattr(self.app_state, "mt5_sessions", None)
        if sessions is None:
            return []
        http, tcp = sessions.count_by_transport()
        return [(("http",), http), (("tcp",), tcp)]

    def _tcp_connections(self) -> Iterable[Sample]:
        server = getattr(self.app_state, "mt5_tcp_server", None)
        return [((), server.open_connections)] if server is not None else []

    def _auth_failures(self) -> Iterable[Sample]:
        failures = getattr(self.app_state, "auth_failures", None)
        return [((), sum(failures.counts.values()))] if failures is not None else []

    def tcp_command(self, command: str, seconds: float) -> None:
        self.tcp_commands.inc(command)
        self.tcp_latency.observe(seconds, command)

    def render(self) -> str:
        with self._render_lock:  # one scrape at a time: the backlog is read once for each
            self._backlog_read = None
            return self.registry.render()


class Observe:
    """Times, counts and logs every HTTP request (see the module's docstring)."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics, mt5_paths: frozenset[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.mt5_paths = mt5_paths
        self._templates: dict[str, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        state = scope.setdefault("state", {})
        path = scope.get("path", "")
        state["dialect"] = dialect_of(path, self.mt5_paths)
        token = logs.REQUEST.set(state)
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics = self.metrics
        metrics.in_flight += 1
        try:
            await self.app(scope, receive, send_status)
        finally:
            metrics.in_flight -= 1
            logs.REQUEST.reset(token)
            elapsed = time.perf_counter() - start
            answered = status or 500  # an error escaped: the server's error handler answers 500
            route = self._route(scope, state)
            method = scope.get("method", "")
            label = method if method in _METHODS else "OTHER"
            dialect = state["dialect"]
            metrics.requests.inc(dialect, route, label, str(answered))
            metrics.latency.observe(elapsed, dialect, route, label)
            if access_log.isEnabledFor(logging.INFO):
                _access_line(scope, state, method, answered, elapsed)

    def _route(self, scope: Scope, state: dict[str, Any]) -> str:
        """The request's route template (bounded), `unmatched` when no route took it."""
        named = state.get("route_template")
        if isinstance(named, str):
            return named
        template = None
        context = (scope.get("fastapi") or {}).get("effective_route_context")
        if context is not None:
            template = getattr(context, "path", None)
        if template is None:
            template = getattr(scope.get("route"), "path", None)
        if not isinstance(template, str):
            return UNMATCHED
        full = (scope.get("root_path") or "") + template
        known = self._templates.get(full)
        if known is None:
            known = _CONVERTOR.sub(r"{\1}", full)
            if len(self._templates) < 10_000:
                self._templates[full] = known
        return known


def _access_line(
    scope: Scope, state: dict[str, Any], method: str, status: int, elapsed: float
) -> None:
    raw = scope.get("raw_path")  # as sent (percent-encoded), else the decoded path
    path = raw.decode("latin-1") if isinstance(raw, bytes) else scope.get("path", "")
    query = scope.get("query_string", b"")
    if query:
        path += "?" + query.decode("latin-1")
    client = scope.get("client")
    method = method[:32]
    access_log.info(
        "%s %s %s",
        method,
        path[:2048],
        status,
        extra={
            "request_id": state.get("request_id"),
            "dialect": state.get("dialect"),
            "manager": state.get("manager"),
            "method": method,
            "path": path[:2048],
            "status": status,
            "latency_ms": round(elapsed * 1000, 2),
            "client": client[0] if client else None,
        },
    )


router = APIRouter(route_class=NativeRoute, responses=COMMON_ERRORS)


@router.get(
    "/metrics",
    tags=["probes"],
    summary="Metrics in the Prometheus text format (needs a key with metrics:read)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
async def metrics_endpoint(request: Request, actor: Actor = Depends(current_actor)) -> Response:
    actor.require(METRICS_SCOPE)
    metrics: ServerMetrics = app_state(request).metrics
    body = await run_in_threadpool(metrics.render)  # the pending approvals are a query
    return Response(body, media_type=CONTENT_TYPE)
