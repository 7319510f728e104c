from tests.dialects.traderevolution.conftest import TE
def test_smoke(te: TE) -> None:
    doc = te.client.get("/proftrading/rest/v2/api-docs").json()
    print(len(doc["paths"]))
    r = te.get("/reports"); print(r.status_code, r.text[:300])
    te.create_user()
    for rid in (102,109,114,117,119,124,125,127,133,139,153,183,190):
        r = te.get(f"/reports/{rid}", params={"isTotal": "true"})
        print(rid, r.status_code, r.text[:400])
    ui = te.client.get("/proftrading/rest/swagger-ui.html", headers={"Accept": "text/html"})
    print(ui.status_code, ui.text[:200])
