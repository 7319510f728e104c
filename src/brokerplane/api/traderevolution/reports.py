"""Reports (spec 7): GET /reports (the catalogue the caller may run), GET /reports/functions
(the column types), GET /reports/{reportId}?startDate=&endDate= (epoch milliseconds) with the
filters a report honours (accountId, login, userGroupId, assetName, instrumentName), limit,
offset and isTotal.

The answer of a run is `{"headers": [...], "data": [[...], ...], "total": [...] | null}`: each
row an array of cells in the order of `headers`; times are display text in UTC
(`07.12.2026 06:08:42.123`), amounts exact JSON numbers. A report that needs a filter the
caller did not give answers 406 with errorCode 1.6.2.2, as a TE back office does. The rows
come from core.backoffice.reports; this module reads the query and renders.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from brokerplane.api.traderevolution.auth import manager_of
from brokerplane.api.traderevolution.errors import NOT_ACCEPTABLE, TEError, invalid
from brokerplane.api.traderevolution.wire import (
    answer,
    path_id,
    query_int,
    query_text,
    query_time,
    services_of,
)
from brokerplane.core.backoffice.report_catalogue import (
    FUNCTIONS,
    MAX_ROWS,
    MAX_SCANNED,
    ReportSpec,
    RunReport,
    missing_filters,
)
from brokerplane.core.errors import NotFound

router = APIRouter()
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
MAX_FILTER = 127


def report_json(spec: ReportSpec) -> dict[str, Any]:
    return {
        "id": spec.id,
        "name": spec.name,
        "category": spec.category,
        "headers": list(spec.columns),
        "requiredFilters": list(spec.required),
        "filters": list(spec.filters),
        "ignoresDates": spec.ignores_dates,
    }


def cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%d.%m.%Y %H:%M:%S.%f")[:-3]
    return value


@router.get("/reports")
async def list_reports(request: Request) -> Response:
    actor = await manager_of(request)
    found = services_of(request).report_catalogue(actor)
    return answer([report_json(s) for s in found])


@router.get("/reports/functions")
async def report_functions(request: Request) -> Response:
    actor = await manager_of(request)
    services_of(request).report_catalogue(actor)  # the same right as the catalogue
    return answer([{"name": name, "description": text} for name, text in FUNCTIONS])


def _flag(request: Request, name: str) -> bool:
    value = query_text(request, name)
    if value is None:
        return False
    if value.lower() not in _TRUE | _FALSE:
        raise invalid(f"{name} must be true or false")
    return value.lower() in _TRUE


def _filter(request: Request, name: str) -> str | None:
    value = query_text(request, name)
    if value is not None and len(value) > MAX_FILTER:
        raise invalid(f"{name} is longer than {MAX_FILTER} characters")
    return value


@router.get("/reports/{report_id}")
async def run_report(request: Request, report_id: str) -> Response:
    actor = await manager_of(request)
    rid = path_id(report_id, "reportId")
    services = services_of(request)
    cmd = RunReport(
        report_id=rid,
        start=query_time(request, "startDate"),
        end=query_time(request, "endDate"),
        offset=query_int(request, "offset", 0, MAX_SCANNED) or 0,
        limit=query_int(request, "limit", 1, MAX_ROWS) or 1000,
        total=_flag(request, "isTotal"),
        account_id=query_int(request, "accountId", 1),
        login=_filter(request, "login"),
        user_group_id=query_int(request, "userGroupId", 1),
        asset=_filter(request, "assetName"),
        instrument=_filter(request, "instrumentName"),
    )
    spec = next((s for s in services.report_catalogue(actor) if s.id == rid), None)
    if spec is None:
        raise NotFound(f"no report {rid}", report_id=rid)
    if missing_filters(spec, cmd):
        raise TEError(
            406,
            NOT_ACCEPTABLE,
            "this report needs a filter: " + ", ".join(missing_filters(spec, cmd)),
        )
    table = await run_in_threadpool(services.run_report, cmd, actor)
    data = [[cell(v) for v in row] for row in table.rows]
    total = [cell(v) for v in table.total] if table.total is not None else None
    return answer({"headers": list(spec.columns), "data": data, "total": total})
