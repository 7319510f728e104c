"""cTrader Web Services in and out: lenient bodies, JSON or XML answers.

In: a JSON object; numbers may come quoted (`"balance": "00"`), booleans as `"true"`/`"1"`,
enum values in any case; keys nobody asked for are ignored. Out: JSON when `Accept` names
JSON (any case), XML otherwise, as the real server does for clients sending `*/*` (spec §0)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from brokerplane.api.ctrader.errors import error_body, invalid
from brokerplane.api.kit.appstate import app_state
from brokerplane.api.kit.body import LenientBody
from brokerplane.application.app import Application
from brokerplane.core.errors import ValidationError
from brokerplane.core.kinds import Dialect
from brokerplane.core.money import out_of_range, parse_integer

DIALECT = Dialect.CTRADER
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


def services_of(request: Request) -> Application:
    services: Application = app_state(request).runtime.app
    return services


def wants_json(request: Request) -> bool:
    return "json" in request.headers.get("accept", "").lower()


def _xml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return escape(str(value))


def _xml_items(data: Mapping[str, Any]) -> str:
    out: list[str] = []
    for key, value in data.items():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, Mapping):
                out.append(f"<{key}>{_xml_items(item)}</{key}>")
            else:
                out.append(f"<{key}>{_xml_value(item)}</{key}>")
    return "".join(out)


def to_xml(root: str, data: Mapping[str, Any]) -> str:
    """A JSON-shaped answer as XML: objects are elements, lists repeat their element."""
    return f'<?xml version="1.0" encoding="UTF-8"?><{root}>{_xml_items(data)}</{root}>'


def answer(request: Request, body: Mapping[str, Any], root: str, status: int = 200) -> Response:
    if wants_json(request):
        return JSONResponse(dict(body), status_code=status)
    return Response(to_xml(root, body), status_code=status, media_type="application/xml")


def error_response(request: Request, status: int, code: str, description: str) -> Response:
    body = error_body(code, description)
    if wants_json(request) or request.url.path.startswith(("/cid", "/v2/cid", "/v2/oauth2")):
        return JSONResponse(body, status_code=status)
    return Response(
        to_xml("error", body["error"]), status_code=status, media_type="application/xml"
    )


def body_refused(request: Request, status: int, reason: str) -> Response:
    """A body over the server's limit or stalled (api/bodylimit.py), refused while read."""
    return error_response(request, status, "INVALID_REQUEST", reason)


def no_content() -> Response:
    return Response(status_code=204)


# ---- reading bodies -------------------------------------------------------------------------


def to_int(value: Any, name: str) -> int | None:
    """An integer from a number or numeric string (`"00"`, `"10000"`, `100.0`)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise invalid(f"{name} must be an integer")
    try:
        return parse_integer(value, name)
    except ValidationError as err:
        raise invalid(
            f"{name} is out of range" if out_of_range(err) else f"{name} must be an integer"
        ) from None


class Body(LenientBody):
    """A request's JSON object, read leniently by the names cTrader uses."""

    TRUE = frozenset(_TRUE)
    FALSE = frozenset(_FALSE)
    BOOL_AS_TEXT = True
    TRIM_REQUIRED = True

    refuse = staticmethod(invalid)
    number = staticmethod(to_int)

    def sub(self, name: str) -> Body:
        value = self.data.get(name)
        if value is None:
            return Body({})
        if not isinstance(value, dict):
            raise invalid(f"{name} must be an object")
        return Body(value)

    def enum(self, name: str) -> str | None:
        value = self.text(name)
        return value.strip().upper() if value is not None else None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(value: str | None, name: str) -> datetime | None:
    """A query-string time: `yyyy-MM-ddTHH:mm:ss.SSS` in UTC (zone optional), or epoch ms."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        try:
            return _EPOCH + timedelta(milliseconds=int(text))
        except OverflowError:
            raise invalid(f"{name} is out of range") from None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"{name} must be a time as yyyy-MM-ddTHH:mm:ss.SSS (UTC)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def millis(value: datetime | None) -> int:
    return int(value.timestamp() * 1000) if value is not None else 0


F = TypeVar("F", bound=Callable[..., Any])


def get_both(router: APIRouter, path: str) -> Callable[[F], F]:
    """A GET route under `path` and `path/` (the slash only outside the schema)."""

    def register(fn: F) -> F:
        router.get(path)(fn)
        router.get(path + "/", include_in_schema=False)(fn)
        return fn

    return register
