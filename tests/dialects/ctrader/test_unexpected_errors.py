"""An error no cTrader handler answers is still a cTrader answer: 500 UNKNOWN_ERROR, logged."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from brokerplane.api.ctrader.mount import webserv_app


def _failing_client() -> TestClient:
    app = webserv_app()

    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom, methods=["POST"])
    return TestClient(app)


def test_an_unexpected_error_is_unknown_error_in_json_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="brokerplane.ctrader"):
        response = _failing_client().post("/boom", headers={"Accept": "application/json"})

    assert response.status_code == 500
    assert response.json() == {
        "error": {"errorCode": "UNKNOWN_ERROR", "description": "an unexpected error occurred"}
    }
    [logged] = [r for r in caplog.records if r.name == "brokerplane.ctrader"]
    assert logged.exc_info is not None and "a bug" in str(logged.exc_info[1])


def test_an_unexpected_error_answers_in_xml_for_xml_clients() -> None:
    response = _failing_client().post("/boom", headers={"Accept": "*/*"})

    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/xml")
    assert "<errorCode>UNKNOWN_ERROR</errorCode>" in response.text
