"""A TraderEvolution tool against `brokerplane serve --demo`, unchanged: it reads the API
document (unauthenticated, trying the URLs such tools try), finds the sign-in and reports
operations in it, signs in as the demo's back-office user, reads the report catalogue and runs
Net Open Positions and Account Statement by the ids the catalogue gave."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.transport_support import ServeProcess, free_port

BASE = "/proftrading/rest"
# The order a real TE tool tries them in (spec 6): the first 200 with non-empty paths wins.
DOC_URLS = (
    "{base}/swagger.json",
    "{base}/v2/api-docs",
    "{base}/api-docs",
    "{origin}/v2/api-docs",
    "{origin}/swagger.json",
)


def test_a_te_tool_discovers_the_back_office_and_runs_two_reports(tmp_path: Path) -> None:
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    server = ServeProcess(
        [
            "--demo",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        log,
        env={"COLUMNS": "200"},
    )
    try:
        server.wait_ready(origin + "/ready")
        printed = log.read_text(errors="replace")
        login = re.search(r"Manager login\s+(\d+)", printed)
        password = re.search(r"Manager password\s+(\S+)", printed)
        assert login and password, printed

        with httpx.Client(timeout=30) as tool:
            doc = None
            for url in DOC_URLS:
                answer = tool.get(url.format(base=origin + BASE, origin=origin))
                if answer.status_code == 200 and answer.json().get("paths"):
                    doc = answer.json()
                    break
            assert doc is not None and doc["swagger"] == "2.0"
            api = f"http://{doc['host']}{doc['basePath']}"
            assert api == origin + BASE
            sign_in = doc["paths"]["/auth/token"]["post"]
            body = next(p for p in sign_in["parameters"] if p["in"] == "body")
            model = doc["definitions"][body["schema"]["$ref"].rsplit("/", 1)[-1]]
            assert {"login", "password"} <= set(model["properties"])
            run = doc["paths"]["/reports/{reportId}"]["get"]
            names = {p["name"] for p in run["parameters"]}
            assert {"startDate", "endDate", "accountId", "assetName"} <= names

            tokens = tool.post(
                api + "/auth/token", json={"login": login.group(1), "password": password.group(1)}
            )
            assert tokens.status_code == 200, tokens.text
            auth = {"Authorization": f"Bearer {tokens.json()['accessToken']}"}
            catalogue = tool.get(api + "/reports", headers=auth)
            assert catalogue.status_code == 200, catalogue.text
            ids = {item["name"]: item["id"] for item in catalogue.json()}
            now = int(time.time() * 1000)
            window = {"startDate": now - 86_400_000, "endDate": now}
            nop = tool.get(
                f"{api}/reports/{ids['Net Open Positions']}", headers=auth, params=window
            )
            assert nop.status_code == 200, nop.text
            assert nop.json()["headers"][:3] == ["usergroup", "instrumentgroup", "instrument"]
            statement = tool.get(
                f"{api}/reports/{ids['Account Statement Report']}", headers=auth, params=window
            )
            assert statement.status_code == 200, statement.text
            head = statement.json()["headers"]
            assert "gi.balance" in head and "accountid" in head
            for row in statement.json()["data"]:
                assert len(row) == len(head)

            # the community catalogue builder's probe of every report: a one-minute 2019
            # window and limit=1; on 406 1.6.2.2 it retries with accountId, then assetName
            # (the first asset's name), then both
            accounts = tool.get(api + "/accounts", headers=auth, params={"limit": 1}).json()
            assets = tool.get(api + "/assets", headers=auth, params={"limit": 1}).json()
            by_account: dict[str, Any] | None = (
                {"accountId": accounts[0]["id"]} if accounts else None
            )
            by_asset: dict[str, Any] = {"assetName": assets[0]["name"] if assets else "USD"}
            extra = [{}, by_account, by_asset, {**(by_account or {}), **by_asset}]
            probe = {"startDate": 1546300800000, "endDate": 1546300860000, "limit": 1}
            for report_id in ids.values():
                for more in (e for e in extra if e is not None):
                    answer = tool.get(
                        f"{api}/reports/{report_id}", headers=auth, params={**probe, **more}
                    )
                    if answer.status_code != 406:
                        break
                    assert "1.6.2.2" in answer.text
                assert answer.status_code == 200, (report_id, answer.text)
                assert answer.json()["headers"] and len(answer.json()["data"]) <= 1
    finally:
        server.stop()
