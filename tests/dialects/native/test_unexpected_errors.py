"""An error no native handler answers is a 500 problem document, logged with its traceback."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from brokerplane.api.app import create_app
from brokerplane.bootstrap import Runtime


def test_an_unexpected_error_is_a_500_problem_and_logged_with_its_traceback(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(runtime)

    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/v1/boom", boom, methods=["GET"])
    with (
        caplog.at_level(logging.ERROR, logger="brokerplane.api"),
        TestClient(app, raise_server_exceptions=False) as client,
    ):
        response = client.get("/v1/boom", headers={"X-Request-Id": "req-boom-1"})

    assert response.status_code == 500
    body = response.json()
    assert (body["status"], body["title"], body["code"]) == (500, "InternalError", "internal")
    assert "a bug" not in response.text and "Traceback" not in response.text
    assert body["request_id"] == response.headers["X-Request-Id"] == "req-boom-1"
    [logged] = [r for r in caplog.records if r.name == "brokerplane.api"]
    assert "req-boom-1" in logged.getMessage()
    assert logged.exc_info is not None and "a bug" in str(logged.exc_info[1])
