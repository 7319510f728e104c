"""MT5 user commands' lenient input over HTTP: query parameters, JSON or form bodies whatever
the content type, quoted numbers, any key case, escaped bars and group paths, the legacy path."""

from __future__ import annotations

import json

import pytest

from tests.dialects.mt5.conftest import Mt5
from tests.dialects.mt5.users_support import PASSWORDS, _add

# ---- lenient input ------------------------------------------------------------------------------


def test_user_add_with_query_parameters_only(mt5: Mt5) -> None:
    response = mt5.get(
        "user/add",
        group="demoforex",
        name="Q",
        leverage="100",
        pass_main="1Ar#pqkj",
        pass_investor="2Ar#pqkj",
    )

    assert mt5.ok(response)["Name"] == "Q"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/json", None]
)
def test_a_json_body_is_read_whatever_its_content_type(mt5: Mt5, content_type: str | None) -> None:
    body = json.dumps({"Group": "demoforex", "Name": "Body", "Leverage": 100, **PASSWORDS})
    headers = {"Content-Type": content_type} if content_type else {}

    response = mt5.post("user/add", None, content=body.encode(), headers=headers)

    assert mt5.ok(response)["Name"] == "Body"


def test_a_form_body_is_read(mt5: Mt5) -> None:
    form = {
        "group": "demoforex",
        "name": "Form",
        "leverage": "100",
        "pass_main": "1Ar#pqkj",
        "pass_investor": "2Ar#pqkj",
        "comment": "a b&c",
    }

    answer = mt5.ok(mt5.post("user/add", None, data=form))

    assert (answer["Name"], answer["Comment"]) == ("Form", "a b&c")


def test_numbers_are_taken_bare_or_quoted(mt5: Mt5) -> None:
    bare = mt5.ok(_add(mt5, None, {"Leverage": 200, "Rights": 483, "Login": 7010}))
    quoted = mt5.ok(_add(mt5, None, {"Leverage": "200", "Rights": "483", "Login": "7011"}))

    assert (bare["Leverage"], bare["Rights"], bare["Login"]) == ("200", "483", "7010")
    assert (quoted["Leverage"], quoted["Rights"], quoted["Login"]) == ("200", "483", "7011")


def test_keys_match_whatever_their_case(mt5: Mt5) -> None:
    response = mt5.post(
        "user/add",
        {"GROUP": "demoforex", "Name": "Case", "LEVERAGE": "100"},
        {
            "passmain": "1Ar#pqkj",
            "PASSINVESTOR": "2Ar#pqkj",
            "company": "lower",
            "COUNTRY": "upper",
        },
    )

    answer = mt5.ok(response)
    assert (answer["Company"], answer["Country"]) == ("lower", "upper")
    assert mt5.ok(mt5.get("user/get", LOGIN=answer["Login"]))["Name"] == "Case"


def test_an_escaped_bar_in_the_name_is_a_bar(mt5: Mt5) -> None:
    raw = "/api/user/add?group=demoforex&leverage=100&name=John\\|Smith&comment=a\\=b"

    answer = mt5.ok(mt5.client.post(raw, json=PASSWORDS))

    assert (answer["Name"], answer["Comment"]) == ("John|Smith", "a=b")


@pytest.mark.parametrize("group", ["demo\\vip", "demo\\\\vip"])
def test_a_group_path_is_taken_with_one_backslash_or_an_escaped_one(mt5: Mt5, group: str) -> None:
    body = {"PassMain": "1Ar#pqkjXY", "PassInvestor": "2Ar#pqkjXY"}

    in_query = mt5.ok(mt5.post("user/add", {"group": group, "name": "G", "leverage": "1"}, body))
    in_body = mt5.ok(
        mt5.post("user/add", None, {"Group": "demo\\vip", "Name": "G", "Leverage": 1, **body})
    )

    assert in_query["Group"] == in_body["Group"] == "demo\\vip"


def test_the_legacy_root_path_is_the_same_command(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]

    response = mt5.client.get("/user_get", params={"login": login})

    assert mt5.ok(response)["Login"] == login
    assert mt5.retcode(mt5.client.get("/user_account_get", params={"login": login})) == "0 Done"
