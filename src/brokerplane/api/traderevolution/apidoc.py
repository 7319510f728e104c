"""The TraderEvolution mount's API document: Swagger 2.0, as a TE back office publishes it
(spec 6), generated from the routes the mount serves, so a tool that discovers endpoints
through it finds exactly what exists.

Served without a token at the paths a TE installation and its tools use:
`/proftrading/rest/v2/api-docs`, `/swagger.json`, `/api-docs` and `/v2/swagger.json`; the page
`/swagger-ui.html` (also `/swagger-ui/index.html` and `/swagger-ui`) is a self-contained HTML
listing of the same document, rendered on the server: no script, no CDN, works offline.

Each operation is described by the OPERATIONS table (apidoc_operations.py), keyed by the
endpoint function's name (one function may serve several spellings of a path). Path parameters
come from the route itself; query parameters and bodies from the table; bodies are `in: body`
parameters whose schema is a `$ref` into `definitions` (apidoc_definitions.py).
tests/dialects/traderevolution/test_apidoc.py checks that every route is in the document and
that every route has a row in the table.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute

from brokerplane.api.traderevolution.apidoc_definitions import DEFINITIONS, schema
from brokerplane.api.traderevolution.apidoc_operations import OPERATIONS, Op, Param
from brokerplane.api.traderevolution.wire import PREFIX, answer

router = APIRouter()

DOC_PATHS = ("/v2/api-docs", "/swagger.json", "/api-docs", "/v2/swagger.json")
UI_PATHS = ("/swagger-ui.html", "/swagger-ui/index.html", "/swagger-ui")
VERSION = "2"
_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _param(p: Param) -> dict[str, Any]:
    out: dict[str, Any] = {"name": p.name, "in": p.where, "required": p.required}
    shape = schema(p.kind)
    out.update(shape if "$ref" not in shape else {"type": "string"})
    if p.description:
        out["description"] = p.description
    if p.enum:
        out["enum"] = list(p.enum)
    return out


def _responses(op: Op, method: str) -> dict[str, Any]:
    error = {"schema": schema("#Error")}
    out: dict[str, Any] = {}
    if op.response is None:
        out["204"] = {"description": "done"}
    else:
        out["200"] = {"description": "OK", "schema": schema(op.response)}
    out["400"] = {"description": "bad input", **error}
    if op.auth:
        out["401"] = {"description": "no or expired access token", **error}
        out["403"] = {"description": "not allowed for this back-office user", **error}
    out["404"] = {"description": "not found (or out of the caller's reach)", **error}
    if op.tag == "Reports":
        out["406"] = {"description": "1.6.2.2: the report needs a filter", **error}
    out["429"] = {"description": "2.147.1.27: too many requests", **error}
    return out


_PARAM_NAMES = {"key_id": "webhookskeyId"}


def public_path(path: str) -> str:
    """The route's path as TE spells it: path parameters in camelCase (`{reportId}`)."""

    def camel(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in _PARAM_NAMES:
            return "{" + _PARAM_NAMES[name] + "}"
        head, *rest = name.split("_")
        return "{" + head + "".join(part.capitalize() for part in rest) + "}"

    return _PATH_PARAM.sub(camel, path)


def _operation_id(name: str, method: str, path: str, seen: set[str]) -> str:
    base = name if name not in seen else f"{name}Using{method.upper()}_{len(seen)}"
    seen.add(base)
    return base


def document(routes: Iterable[APIRoute], host: str, scheme: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for route in sorted(routes, key=lambda r: r.path):
        name = route.endpoint.__name__
        op = OPERATIONS.get(name) or Op("Other", (route.endpoint.__doc__ or name).split("\n")[0])
        path = public_path(route.path)
        for method in sorted(route.methods or ()):
            if method in ("HEAD", "OPTIONS"):
                continue
            params = [
                _param(Param(p, "integer", where="path", required=True))
                for p in _PATH_PARAM.findall(path)
            ]
            params += [_param(p) for p in (*op.headers, *op.query)]
            if op.body is not None and method in ("POST", "PUT", "PATCH"):
                params.append(
                    {
                        "name": "body",
                        "in": "body",
                        "required": True,
                        "schema": schema("#" + op.body),
                    }
                )
            entry: dict[str, Any] = {
                "tags": [op.tag],
                "summary": op.summary,
                "operationId": _operation_id(name, method, route.path, seen),
                "consumes": ["application/json"],
                "produces": ["text/html" if name == "swagger_ui" else "application/json"],
                "parameters": params,
                "responses": _responses(op, method),
                "deprecated": False,
            }
            if op.auth:
                entry["security"] = [{"Bearer": []}]
            paths.setdefault(path, {})[method.lower()] = entry
    tags = sorted({op["tags"][0] for item in paths.values() for op in item.values()})
    return {
        "swagger": "2.0",
        "info": {
            "title": "TraderEvolution Back-Office API (brokerplane)",
            "version": VERSION,
            "description": "The TraderEvolution Back-Office REST API as brokerplane serves "
            "it. Sign in at POST /auth/token, then send "
            "'Authorization: Bearer <accessToken>'.",
        },
        "host": host,
        "basePath": PREFIX,
        "schemes": [scheme],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "tags": [{"name": t} for t in tags],
        "securityDefinitions": {
            "Bearer": {"type": "apiKey", "name": "Authorization", "in": "header"}
        },
        "paths": paths,
        "definitions": DEFINITIONS,
    }


def te_routes(request: Request) -> list[APIRoute]:
    routers: Sequence[APIRouter] = request.app.state.te_routers
    return [r for rt in routers for r in rt.routes if isinstance(r, APIRoute)]


def _document_of(request: Request) -> dict[str, Any]:
    host = request.headers.get("host", "localhost")[:255]
    if not re.fullmatch(r"[A-Za-z0-9.\-:\[\]]+", host):
        host = "localhost"
    return document(te_routes(request), host, request.url.scheme)


async def api_docs(request: Request) -> Response:
    """The API document (Swagger 2.0), no token needed."""
    return answer(_document_of(request))


async def swagger_ui(request: Request) -> Response:
    """The API document as a page: every operation, its parameters and answers."""
    doc = _document_of(request)
    rows: list[str] = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            params = ", ".join(
                f"{p['name']} ({p['in']}{', required' if p['required'] else ''})"
                for p in op["parameters"]
            )
            rows.append(
                f"<tr><td>{html.escape(op['tags'][0])}</td><td><code>{method.upper()}</code>"
                f"</td><td><code>{html.escape(PREFIX + path)}</code></td>"
                f"<td>{html.escape(op['summary'])}</td><td>{html.escape(params)}</td></tr>"
            )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<title>TraderEvolution Back-Office API</title><style>body{font-family:sans-serif;"
        "margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:left;vertical-align:top}</style></head><body>"
        "<h1>TraderEvolution Back-Office API</h1>"
        f"<p>Swagger 2.0 document: <a href='{PREFIX}/v2/api-docs'>{PREFIX}/v2/api-docs</a>. "
        "Sign in at <code>POST /auth/token</code>, then send "
        "<code>Authorization: Bearer &lt;accessToken&gt;</code>.</p>"
        "<table><tr><th>tag</th><th>method</th><th>path</th><th>summary</th>"
        f"<th>parameters</th></tr>{''.join(rows)}</table></body></html>"
    )
    return HTMLResponse(page)


for _path in DOC_PATHS:
    router.add_api_route(_path, api_docs, methods=["GET"])
for _path in UI_PATHS:
    router.add_api_route(_path, swagger_ui, methods=["GET"])
