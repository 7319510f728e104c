"""NativeRoute: every native endpoint renders core and validation errors as problem+json."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from brokerplane.api import jsonbody
from brokerplane.api.native import idempotency
from brokerplane.api.native.errors import core_problem, problem
from brokerplane.core.errors import CoreError

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
    return problem(400, "ValidationError", f"invalid fields: {names}", "validation.invalid",
                   request_id, fields)  # fmt: skip


def _not_json() -> RequestValidationError:
    return RequestValidationError([
        {"type": "json_invalid", "loc": ("body",), "msg": "the body is not valid JSON"}
    ])  # fmt: skip


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
                await idempotency.release(request)
                return core_problem(err, request_id)
            except RequestValidationError as err:
                await idempotency.release(request)
                return validation_problem(err, request_id)
            except Exception:
                await idempotency.release(request)
                raise

        return route
