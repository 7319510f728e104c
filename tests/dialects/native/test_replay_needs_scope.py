"""A stored answer is replayed only to a key that may make the request: the webhook and key
writes run their commands through Application.run, which checks the commands' declared scopes
before it replays (and, for a key's rotation or revocation, that the caller holds the key's
scopes, as the rule does), so another key of the same manager cannot read an admin's answer by
reusing its idempotency key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from brokerplane.core.actor import SCOPES
from tests.dialects.native.conftest import Api

REPLAY = "Idempotent-Replay"
HOOK = {"url": "http://127.0.0.1:9/hook", "secret": "a-long-random-shared-secret"}
# Every scope but admin: the strongest key that still may not manage webhooks.
ALMOST_ALL = tuple(s for s in SCOPES if s != "admin")


def _hook(api: Api) -> int:
    made = api.post("/v1/webhooks", {"url": "http://127.0.0.1:9/other"})
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _keys(api: Api) -> list[tuple[str, str, str | None]]:
    return [(k["id"], k["state"], k["expires_at"]) for k in api.get("/v1/keys").json()["items"]]


def _send(api: Api, method: str, path: str, body: Any, key: str, idem: str) -> Any:
    headers = {**api.headers(key), "Idempotency-Key": idem}
    return api.client.request(method, path, json=body, headers=headers)


# (method, path, body) of each webhook write, given a subscription to act on.
WRITES: dict[str, Callable[[int], tuple[str, str, Any]]] = {
    "create": lambda _sub: ("POST", "/v1/webhooks", HOOK),
    "change": lambda sub: ("PATCH", f"/v1/webhooks/{sub}", {"description": "crm"}),
    "delete": lambda sub: ("DELETE", f"/v1/webhooks/{sub}", None),
    "replay": lambda sub: ("POST", f"/v1/webhooks/{sub}/replay", {"from": 1}),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_key_without_admin_is_refused_the_replay_of_an_admins_webhook_write(
    api: Api, write: str
) -> None:
    weak = api.key(*ALMOST_ALL)
    method, path, body = WRITES[write](_hook(api))
    first = _send(api, method, path, body, api.admin_key, "hook-1")
    assert first.status_code in (200, 201), first.text
    audited = len(api.get("/v1/audit").json()["items"])

    refused = _send(api, method, path, body, weak, "hook-1")
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["title"] == "PermissionDenied"
    assert REPLAY not in refused.headers
    assert "127.0.0.1" not in refused.text  # nothing of the stored answer
    assert len(api.get("/v1/audit").json()["items"]) == audited  # nothing applied or recorded

    again = _send(api, method, path, body, api.admin_key, "hook-1")
    assert again.status_code == first.status_code
    assert again.headers[REPLAY] == "true"  # the refusal used nothing up: the admin replays
    assert again.json() == {**first.json(), **({"secret": None} if write == "create" else {})}


def test_a_refused_replay_answers_as_a_fresh_request_of_that_key_would(api: Api) -> None:
    weak = api.key(*ALMOST_ALL)
    fresh = _send(api, "POST", "/v1/webhooks", HOOK, weak, "hook-fresh")
    assert _send(api, "POST", "/v1/webhooks", HOOK, api.admin_key, "hook-2").status_code == 201
    replayed = _send(api, "POST", "/v1/webhooks", HOOK, weak, "hook-2")
    assert (replayed.status_code, replayed.json()["code"]) == (403, fresh.json()["code"])
    assert api.get("/v1/webhooks").json()["items"][0]["url"] == HOOK["url"]
    assert len(api.get("/v1/webhooks").json()["items"]) == 1


def test_key_rotation_and_revocation_replay_their_answers_without_the_secret(api: Api) -> None:
    target = api.post("/v1/keys", {"scopes": ["users:read"], "name": "target"}).json()["id"]
    headers = {**api.headers(), "Idempotency-Key": "rot-1"}
    rotated = api.client.post(f"/v1/keys/{target}/rotate", headers=headers)
    assert rotated.status_code == 201 and rotated.json()["key"]
    again = api.client.post(f"/v1/keys/{target}/rotate", headers=headers)
    assert (again.status_code, again.headers[REPLAY]) == (201, "true")
    assert again.json() == {**rotated.json(), "key": None}

    headers = {**api.headers(), "Idempotency-Key": "rev-1"}
    revoked = api.client.delete(f"/v1/keys/{target}", headers=headers)
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert api.client.delete(f"/v1/keys/{target}", headers=headers).headers[REPLAY] == "true"


@pytest.mark.parametrize("method", ["rotate", "revoke"])
def test_a_key_lacking_a_keys_scopes_is_refused_the_replay_of_its_rotation_or_revocation(
    api: Api, method: str
) -> None:
    reader = api.key("users:read")
    target = api.post("/v1/keys", {"scopes": ["balances:write"], "name": "finance"}).json()["id"]
    path = f"/v1/keys/{target}/rotate" if method == "rotate" else f"/v1/keys/{target}"
    send = api.client.post if method == "rotate" else api.client.delete
    fresh = send(path, headers={**api.headers(reader), "Idempotency-Key": "fresh"})
    assert fresh.status_code == 403, fresh.text  # the rule: scopes the reader lacks
    assert send(path, headers={**api.headers(), "Idempotency-Key": "k-1"}).status_code < 300
    keys_before = _keys(api)

    refused = send(path, headers={**api.headers(reader), "Idempotency-Key": "k-1"})
    assert (refused.status_code, refused.json()["code"]) == (403, fresh.json()["code"])
    assert REPLAY not in refused.headers and target not in refused.text
    assert _keys(api) == keys_before  # no key made, rotated or revoked
    again = send(path, headers={**api.headers(), "Idempotency-Key": "k-1"})
    assert again.headers[REPLAY] == "true"  # the admin's repeat still replays
