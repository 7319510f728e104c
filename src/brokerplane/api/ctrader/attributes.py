"""Attributes of traders, trader groups and managers (cTrader Web Services 4.14-4.22): list,
bulk upsert and delete, translated onto the core's attribute sets.

Wire names follow seed 003: `traderIds` / `traderGroupIds` / `managerIds`, `limit`,
`pageAfterTraderId` -> `nextPageAfterTraderId`, `attributeSets` of `{traderId | traderGroupId |
managerId, attributes: [{name, value}]}`, `names`. The docs' names of the two list filters were
lost, so both are accepted under two spellings: `nameContains` (or `name`), a case-insensitive
substring of the attribute name, and `utcUpdatedSince` (or `since`), epoch milliseconds (or a
`yyyy-MM-ddTHH:mm:ss.SSS` UTC time) the newest attribute must be set at or after.

Seed 003's curl examples send no `Accept` and read JSON back, so these calls answer JSON, errors
included, unless the client asks for XML and not JSON.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from brokerplane.api.ctrader.auth import actor_of
from brokerplane.api.ctrader.errors import CTraderError, error_body, invalid, status_and_code
from brokerplane.api.ctrader.wire import (
    Body,
    error_response,
    millis,
    parse_time,
    services_of,
    to_int,
    to_xml,
)
from brokerplane.core.attribute.commands import (
    AttributeValue,
    DeleteAttributes,
    EntityAttributes,
    ListAttributes,
    SetAttributes,
)
from brokerplane.core.attribute.model import AttributeSet
from brokerplane.core.errors import CoreError, FieldError, ValidationError

router = APIRouter()

T = TypeVar("T")

NAME_FILTER = ("nameContains", "name")
SINCE_FILTER = ("utcUpdatedSince", "since")
PAGE_AFTER = "pageAfterTraderId"
NEXT_PAGE = "nextPageAfterTraderId"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Kind:
    """What carries the attributes: the core's kind and its cTrader names."""

    core: str
    path: str
    ids_key: str
    id_key: str


KINDS = (
    Kind("account", "/traders", "traderIds", "traderId"),
    Kind("group", "/tradergroups", "traderGroupIds", "traderGroupId"),
    Kind("manager", "/managers", "managerIds", "managerId"),
)


# ---- answers --------------------------------------------------------------------------------


def _wants_xml(request: Request) -> bool:
    accept = request.headers.get("accept", "").lower()
    return "xml" in accept and "json" not in accept


def _answer(request: Request, body: dict[str, Any], root: str) -> Response:
    if _wants_xml(request):
        return Response(to_xml(root, body), media_type="application/xml")
    return JSONResponse(body)


async def _speaking_json(request: Request, work: Callable[[], Awaitable[Response]]) -> Response:
    """Run a call; its errors are answered in JSON unless the client asked for XML alone."""
    try:
        return await work()
    except CTraderError as err:
        status, code, description = err.status, err.code, err.description
    except CoreError as err:
        (status, code), description = status_and_code(err), err.detail
    if _wants_xml(request):
        return error_response(request, status, code, description)
    return JSONResponse(error_body(code, description), status_code=status)


def _wire_field(field: str, kind: Kind) -> str:
    """A core field path (`sets[0].id`, `ids[3]`, `after_id`) in the caller's names."""
    match = re.match(r"(sets|ids|names|after_id|name_contains|since|limit)(.*)\Z", field)
    if match is None:
        return field
    head, rest = match.groups()
    if head == "sets":
        rest = re.sub(r"^(\[\d+\])\.id$", rf"\1.{kind.id_key}", rest)
    wire = {
        "sets": "attributeSets",
        "ids": kind.ids_key,
        "after_id": PAGE_AFTER,
        "name_contains": NAME_FILTER[0],
        "since": SINCE_FILTER[0],
    }
    return wire.get(head, head) + rest


def _translated(kind: Kind, fn: Callable[[], T]) -> T:
    """Call the core; its validation errors come back naming the caller's fields."""
    try:
        return fn()
    except ValidationError as err:
        if type(err) is not ValidationError or not err.fields:
            raise
        fields = [FieldError(_wire_field(f.field, kind), f.message) for f in err.fields]
        detail = "; ".join(f"{f.field}: {f.message}" for f in fields)
        raise ValidationError(detail, fields=fields) from None


# ---- reading requests -----------------------------------------------------------------------


def _id_value(value: Any) -> Any:
    """An id as sent: integers, also quoted or as `101.0`; anything else goes on to the core,
    which names it as not an integer."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return value


def _ids(body: Body, key: str) -> tuple[Any, ...] | None:
    raw = body.data.get(key)
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise invalid(f"{key} must be a list of ids")
    return tuple(_id_value(v) for v in raw)


def _either(body: Body, names: tuple[str, ...]) -> Any:
    """The value under either spelling of a filter; both given must agree."""
    given = [(n, body.data[n]) for n in names if body.data.get(n) is not None]
    if len(given) > 1 and given[0][1] != given[1][1]:
        raise invalid(f"{given[0][0]} and {given[1][0]} are the same filter with two values")
    return given[0][1] if given else None


def _name_filter(body: Body) -> str | None:
    value = _either(body, NAME_FILTER)
    if value is not None and not isinstance(value, str):
        raise invalid(f"{NAME_FILTER[0]} must be a string")
    return value


def _since(body: Body) -> datetime | None:
    value = _either(body, SINCE_FILTER)
    name = SINCE_FILTER[0]
    if value is None:
        return None
    if isinstance(value, str) and not value.strip().isdigit():
        try:
            return parse_time(value, name)
        except (OverflowError, OSError, ValueError):
            raise invalid(f"{name} is out of range") from None
    ms = to_int(value, name)
    if ms is None or ms < 0:
        raise invalid(f"{name} must be epoch milliseconds, not negative")
    try:
        return _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        raise invalid(f"{name} is out of range") from None


def _attribute(where: str, item: Any) -> AttributeValue:
    if not isinstance(item, dict):
        raise invalid(f"{where} must be an object with name and value")
    for key in ("name", "value"):
        if key not in item:
            raise invalid(f"{where}.{key} is required")
    # Types, lengths and null values are the core's to judge (null: 400, never a delete).
    return AttributeValue(item["name"], item["value"])


def _attribute_sets(body: Body, kind: Kind) -> tuple[EntityAttributes, ...]:
    raw = body.data.get("attributeSets")
    if raw is None:
        raise invalid("attributeSets is required")
    if not isinstance(raw, list):
        raise invalid("attributeSets must be a list")
    sets: list[EntityAttributes] = []
    for i, item in enumerate(raw):
        where = f"attributeSets[{i}]"
        if not isinstance(item, dict):
            raise invalid(f"{where} must be an object")
        if item.get(kind.id_key) is None:
            raise invalid(f"{where}.{kind.id_key} is required")
        attrs = item.get("attributes")
        if not isinstance(attrs, list):
            raise invalid(f"{where}.attributes must be a list")
        values = tuple(_attribute(f"{where}.attributes[{j}]", a) for j, a in enumerate(attrs))
        sets.append(EntityAttributes(_id_value(item[kind.id_key]), values))
    return tuple(sets)


def _names(body: Body) -> tuple[Any, ...]:
    raw = body.data.get("names")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise invalid("names must be a list of attribute names")
    return tuple(raw)


def _set_json(kind: Kind, found: AttributeSet) -> dict[str, Any]:
    return {
        kind.id_key: found.entity_id,
        "attributes": [{"name": a.name, "value": a.value} for a in found.attributes],
        "utcLastUpdateTimestamp": millis(found.updated_at),
    }


# ---- routes ---------------------------------------------------------------------------------


def _list_route(kind: Kind) -> Callable[[Request], Awaitable[Response]]:
    async def list_attributes(request: Request) -> Response:
        async def work() -> Response:
            actor = await actor_of(request)
            body = await Body.of(request, required=False)
            cmd = ListAttributes(
                kind.core,
                ids=_ids(body, kind.ids_key),
                limit=body.integer("limit"),
                after_id=body.integer(PAGE_AFTER),
                name_contains=_name_filter(body),
                since=_since(body),
            )
            services = services_of(request)
            page = await run_in_threadpool(
                _translated, kind, lambda: services.list_attributes(cmd, actor)
            )
            out: dict[str, Any] = {"results": [_set_json(kind, s) for s in page.sets]}
            if page.next_after_id is not None:
                out[NEXT_PAGE] = page.next_after_id
            return _answer(request, out, "attributeSets")

        return await _speaking_json(request, work)

    return list_attributes


def _upsert_route(kind: Kind) -> Callable[[Request], Awaitable[Response]]:
    async def upsert_attributes(request: Request) -> Response:
        async def work() -> Response:
            actor = await actor_of(request)
            body = await Body.of(request)
            cmd = SetAttributes(kind.core, _attribute_sets(body, kind))
            services = services_of(request)
            await run_in_threadpool(_translated, kind, lambda: services.set_attributes(cmd, actor))
            return _answer(request, {}, "response")

        return await _speaking_json(request, work)

    return upsert_attributes


def _delete_route(kind: Kind) -> Callable[[Request], Awaitable[Response]]:
    async def delete_attributes(request: Request) -> Response:
        async def work() -> Response:
            actor = await actor_of(request)
            body = await Body.of(request)
            ids = _ids(body, kind.ids_key) or ()
            cmd = DeleteAttributes(kind.core, ids, _names(body))
            services = services_of(request)
            await run_in_threadpool(
                _translated, kind, lambda: services.delete_attributes(cmd, actor)
            )
            return _answer(request, {}, "response")

        return await _speaking_json(request, work)

    return delete_attributes


for _kind in KINDS:
    for _slash in ("", "/"):
        _base = f"{_kind.path}/attributes"
        router.add_api_route(
            f"{_base}/list{_slash}",
            _list_route(_kind),
            methods=["POST"],
            include_in_schema=not _slash,
        )
        router.add_api_route(
            f"{_base}{_slash}", _upsert_route(_kind), methods=["PUT"], include_in_schema=not _slash
        )
        router.add_api_route(
            f"{_base}{_slash}",
            _delete_route(_kind),
            methods=["DELETE"],
            include_in_schema=not _slash,
        )
