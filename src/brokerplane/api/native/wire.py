"""What every native router shares: the route class that renders core and validation
errors as problem+json, the error documents, the services lookup, query parsing, cursors, ids
and times, the settings a body sets, and idempotent writes (`write`: a keyed write applies at
most once, its answer replayed)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from annotated_types import Interval
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, StrictInt

from brokerplane.api import jsonbody
from brokerplane.api.kit import idempotency as keyed
from brokerplane.api.kit.replay import replay_response
from brokerplane.api.native.auth import runtime_of
from brokerplane.api.native.errors import PROBLEM_MEDIA_TYPE, core_problem, problem
from brokerplane.application.app import Application, require_declared
from brokerplane.application.idempotency import IdempotentRequest, Replay
from brokerplane.core.actor import Actor, scopes_of
from brokerplane.core.errors import AlreadyApplied, CoreError, ValidationError
from brokerplane.core.idempotency import StoredResponse, as_seen_by
from brokerplane.core.validate import MAX_ID

# A login, ticket or id a caller names (path, query or body): 1 to 2^63-1, a signed 64-bit
# number as the database keeps it; anything else is a 400 naming the field.
Id = Annotated[int, Interval(ge=1, le=MAX_ID)]
StrictId = Annotated[StrictInt, Interval(ge=1, le=MAX_ID)]


class Problem(BaseModel):
    """RFC 9457 problem details, as every native error is sent (application/problem+json)."""

    type: str = Field(examples=["https://brokerplane.dev/problems/account.not_found"])
    title: str = Field(
        description="ValidationError, Unauthorized, PermissionDenied, NotFound, Conflict, "
        "AlreadyApplied or ManagerOffline",
        examples=["NotFound"],
    )
    status: int = Field(examples=[404])
    detail: str = Field(examples=["account 910024 does not exist"])
    code: str = Field(description="stable dotted error code", examples=["account.not_found"])
    errors: list[dict[str, str]] = Field(
        default_factory=list, description="field errors: [{field, message}]"
    )
    request_id: str | None = None


# Errors are sent as problem+json: the document gives that media type the Problem schema.
PROBLEM = {
    "model": Problem,
    "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {**PROBLEM, "description": "ValidationError: the input is invalid (fields named)"},
    401: {**PROBLEM, "description": "Unauthorized: missing or invalid bearer key"},
    403: {**PROBLEM, "description": "PermissionDenied: the key lacks the scope"},
    429: {**PROBLEM, "description": "TooManyRequests: the key's rate limit; see Retry-After"},
    503: {**PROBLEM, "description": "ManagerOffline: the database is unreachable"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {**PROBLEM, "description": "NotFound"}}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        **PROBLEM,
        "description": "Conflict; AlreadyApplied (the request id was used for a different "
        "request); RequestInFlight (the request id is still being processed: see Retry-After)",
    }
}


def services(request: Request) -> Application:
    return runtime_of(request).app


def encode_cursor(kind: str, value: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


def next_cursor(kind: str, page: list[Any], limit: int, key: str) -> str | None:
    """A cursor after the last item of a full page; None when the page is the last."""
    if len(page) < limit:
        return None
    return encode_cursor(kind, int(getattr(page[-1], key)))


def decode_cursor(kind: str, cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        found, _, value = raw.partition(":")
        if found != kind:
            raise ValueError(found)
        number = int(value)
        if not 0 <= number <= MAX_ID:  # a forged cursor must not reach the query
            raise ValueError(value)
        return number
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError.field("cursor", "is not a cursor this API returned") from None


def parse_time(name: str, value: str | None) -> datetime | None:
    """An ISO 8601 time (naive means UTC) or unix seconds."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise ValidationError.field(name, "must be an ISO 8601 time or unix seconds") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def wants_csv(request: Request, format: str | None) -> bool:
    if format not in (None, "json", "csv"):
        raise ValidationError.field("format", "must be json or csv")
    return format == "csv" or (format is None and "text/csv" in request.headers.get("accept", ""))


def iso(value: datetime | None) -> str | None:
    """A UTC time as ISO 8601 with Z, as every native answer writes times."""
    return value.isoformat().replace("+00:00", "Z") if value else None


def set_fields(body: Any, *exclude: str) -> dict[str, Any]:
    data: dict[str, Any] = body.model_dump(exclude_unset=True)
    for name in exclude:
        data.pop(name, None)
    return data


def settings_of(body: Any, *exclude: str) -> dict[str, Any]:
    """The settings sent: declared fields left null mean "the default"; any other name stays,
    null or not, so the core refuses it as unknown instead of it passing unseen."""
    declared = type(body).model_fields
    return {
        k: v for k, v in set_fields(body, *exclude).items() if v is not None or k not in declared
    }


log = logging.getLogger("brokerplane.native")


# Tags pydantic adds to the location of each member of a union that failed.
_UNION_TAGS = frozenset({"str", "int", "float", "bool", "none", "function-plain[_coerce()]"})


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    while len(parts) > 1 and parts[-1] in _UNION_TAGS:
        parts.pop()
    return ".".join(parts) or "body"


def validation_problem(err: RequestValidationError, request_id: str | None) -> Response:
    fields: list[dict[str, str]] = []
    seen: dict[str, dict[str, str]] = {}
    for item in err.errors():
        kind = item.get("type", "")
        message = item.get("msg", "is invalid")
        if kind == "json_invalid":
            message = "the body is not valid JSON"
        elif kind == "missing":
            message = "is required"
        elif kind == "model_attributes_type" or kind == "dict_type":
            message = "the body must be a JSON object"
        field = "body" if kind == "json_invalid" else _field_name(tuple(item.get("loc", ())))
        if field in seen:  # one field failing every member of a union: say what it may be
            seen[field]["message"] = "has the wrong type (a string or a number is expected)"
            continue
        seen[field] = {"field": field, "message": message}
        fields.append(seen[field])
    names = ", ".join(dict.fromkeys(f["field"] for f in fields))
    return problem(
        400, "ValidationError", f"invalid fields: {names}", "validation.invalid", request_id, fields
    )


def _not_json() -> RequestValidationError:
    return RequestValidationError(
        [{"type": "json_invalid", "loc": ("body",), "msg": "the body is not valid JSON"}]
    )


async def _refuse_lone_surrogates(request: Request) -> None:
    """FastAPI parses native bodies itself; a body that escapes a surrogate (rare, found by one
    search) is read by the shared reader, which refuses a string holding a lone one."""
    raw = await request.body()  # bounded (api/bodylimit.py) and kept for FastAPI to parse
    if not raw or not jsonbody.may_hold_surrogate(raw):
        return
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):
        return  # not JSON at all: FastAPI answers that as it does any other
    try:
        jsonbody.check_text(raw, parsed)
    except jsonbody.BodyProblem:
        raise _not_json() from None


class NativeRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            request_id = getattr(request.state, "request_id", None)
            try:
                await _refuse_lone_surrogates(request)
                return await handler(request)
            except CoreError as err:
                return core_problem(err, request_id)
            except RequestValidationError as err:
                return validation_problem(err, request_id)

        return route


# ---- idempotency --------------------------------------------------------------------------
# Native idempotency: writes with `Idempotency-Key` or `x-request-id` apply at most once.
#
# The key is scoped to the credential's manager. A repeat with the same method, path, query and
# JSON body replays the stored answer with `Idempotent-Replay: true`; anything else with the
# same key is `409 AlreadyApplied`; a repeat while the first is still running is
# `409 RequestInFlight` with `Retry-After`.

T = TypeVar("T")

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NATIVE_PREFIXES = ("/v1", "/mt4/manager")
REPLAY_HEADER = keyed.REPLAY_HEADER


def client_key(request: Request) -> tuple[str, str] | None:
    """The idempotency key the client sent and its header: Idempotency-Key, else x-request-id
    (read as every dialect reads it, api.kit.idempotency)."""
    sent = keyed.sent_key(request.headers)
    return (sent.key, sent.header) if sent is not None else None


def _path(request: Request) -> str:
    path = request.url.path
    for prefix in NATIVE_PREFIXES:
        if path.startswith(prefix + "/"):
            return path[len(prefix) :]
    return path


async def fingerprint(request: Request) -> str:
    """What makes two requests "the same": method, path under the mount, query and body."""
    raw = await request.body()
    try:
        body = json.dumps(jsonbody.loads(raw), sort_keys=True, separators=(",", ":"))
    except ValueError:
        body = raw.hex()
    query = "&".join(sorted(request.url.query.split("&"))) if request.url.query else ""
    text = "\n".join((request.method, _path(request), query, body))
    return hashlib.sha256(text.encode()).hexdigest()


async def _wanted(request: Request, actor: Actor, claim_first: bool) -> IdempotentRequest | None:
    """The key a write sent and what makes it this request; None for unkeyed requests."""
    if request.method not in WRITE_METHODS or actor.manager_login is None:
        return None
    sent = client_key(request)
    if sent is None:
        return None
    key, header = sent
    return IdempotentRequest(
        keyed.scope_of(actor), key, await fingerprint(request), header, claim_first
    )


def _armed(request: Request, actor: Actor, key: str) -> Actor:
    request_id = actor.request_id if request.headers.get("x-request-id") else key[:127]
    if request_id == actor.request_id:
        return actor  # the same actor: not copied
    return replace(actor, request_id=request_id)


def _encode(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _operation_id(body: Any) -> str | None:
    if isinstance(body, dict):
        for name in ("operation_id", "approval_id", "id", "login", "name"):
            value = body.get(name)
            if value is not None:
                return (str(value) if name == "operation_id" else f"{name} {value}")[:40]
    return None


def _stored(
    render: Callable[[T], tuple[int, Any]], result: T, secret_fields: tuple[str, ...]
) -> StoredResponse:
    """A result rendered as the answer a repeat is sent: `secret_fields` null."""
    status, body = render(result)
    if secret_fields and isinstance(body, dict):
        body = {k: (None if k in secret_fields else v) for k, v in body.items()}
    return StoredResponse(status, _encode(body), _operation_id(body))


def scoped(*commands: type) -> dict[str, Any]:
    """A route's OpenAPI extension `x-scopes`: the scopes its commands declare (core.actor.needs),
    any one of which opens it (`admin` opens every route); none: any valid key, and the rule
    judges the caller. The route names its commands; the scopes come from their classes."""
    return {"x-scopes": sorted({s for c in commands for s in scopes_of(c)})}


async def write(
    request: Request,
    actor: Actor,
    call: Callable[[Actor], T] | Any,
    render: Callable[[T], tuple[int, Any]],
    *,
    secret_fields: tuple[str, ...] = (),
    claim_in_command: bool = False,
) -> Response:
    """Run a write and answer with its rendering, once, after the commit. `call` is a command
    (run by Application.run) or a front-door call taking the actor. With a key, the result is
    stored in the command's own transaction and a repeat renders the stored one.

    The scopes its commands declare (core.actor.needs) are checked before a stored answer is
    replayed, so a key that may not make the request cannot read its answer either.
    `secret_fields` are shown once: any replay has them null. `claim_in_command`: the key is
    claimed in the command's transaction (a concurrent repeat waits and replays), else in one
    of its own first (a concurrent repeat is RequestInFlight)."""
    require_declared(call, actor)
    wanted = await _wanted(request, actor, claim_first=not claim_in_command)
    if wanted is not None:
        actor = _armed(request, actor, wanted.key)
    app = services(request)
    try:
        if callable(call):
            outcome = await run_in_threadpool(app.run_call, call, actor, wanted)
        else:
            outcome = await run_in_threadpool(app.run, call, actor, wanted)
    except AlreadyApplied as err:
        raise keyed.labelled(err, lambda r: _label(_stored(render, r, secret_fields))) from None
    if isinstance(outcome, Replay):
        stored = outcome.response or _stored(render, outcome.result, secret_fields)
        return replay_response(as_seen_by(stored, actor))
    status, body = render(outcome)
    return JSONResponse(body, status_code=status)


def _label(stored: StoredResponse) -> tuple[int, str | None]:
    assert stored.status is not None
    return stored.status, stored.operation_id
