"""The native OpenAPI document names each write's scopes as `x-scopes`, taken from the
declarations of the commands the route runs (core.actor.needs), and they agree with the scope
matrix (test_scope_matrix), which states them independently and proves them over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from brokerplane.api.app import create_app
from brokerplane.bootstrap import build
from brokerplane.core.actor import SCOPES
from brokerplane.settings import Settings
from tests.dialects.native.test_scope_matrix import MATRIX


def _declared(tmp_path: Path) -> dict[tuple[str, str], list[str]]:
    runtime = build(Settings(data_dir=tmp_path))  # the app is only inspected: no database use
    try:
        spec: dict[str, Any] = create_app(runtime).openapi()
    finally:
        runtime.close()
    return {
        (method.upper(), path): op["x-scopes"]
        for path, methods in spec["paths"].items()
        for method, op in methods.items()
        if isinstance(op, dict) and "x-scopes" in op
    }


def test_each_writes_declared_scopes_are_the_ones_the_matrix_proves(tmp_path: Path) -> None:
    declared = _declared(tmp_path)
    assert len(declared) >= 20  # every write names its commands
    for (method, path), scopes in declared.items():
        endpoint = (method, "/v1" + path.removeprefix("/mt4/manager").removeprefix("/v1"))
        if not scopes:  # no scope by name: any valid key, the rule judging the caller
            opened = frozenset(SCOPES)
        elif scopes == ["admin"]:
            opened = frozenset(scopes)
        else:
            opened = frozenset(scopes) - {"admin"}
        assert MATRIX[endpoint].allowed == opened, (method, path)


def test_a_routes_scopes_in_the_document_come_from_its_commands(tmp_path: Path) -> None:
    declared = _declared(tmp_path)
    assert declared[("POST", "/v1/balances/deposit")] == ["balances:write"]
    assert declared[("PATCH", "/v1/users/{login}")] == ["users:write"]
    assert declared[("PUT", "/v1/approval-thresholds")] == ["admin"]
    assert declared[("DELETE", "/v1/webhooks/{sub_id}")] == ["admin"]
    assert declared[("POST", "/v1/keys/{key_id}/rotate")] == []  # any key; the rule judges
