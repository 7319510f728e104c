"""Trading webhook keys (seed 004): POST /webhookskeys, GET /webhooksKeys and
DELETE /webhooksKeys/{id}, each under both spellings the seed uses.

A TraderEvolution user signed in at /auth/token manages its own keys. A back-office user
manages the keys of users within its reach: it names the user with `userId` (in the body to
generate, in the query to list; without it the list holds every key it may see).
The secret is answered once, when the key is generated.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from brokerplane.api.traderevolution.auth import caller_of
from brokerplane.api.traderevolution.errors import invalid
from brokerplane.api.traderevolution.wire import (
    Body,
    answer,
    millis,
    path_id,
    query_int,
    services_of,
)
from brokerplane.core.backoffice.commands import (
    WEBHOOK_NAME_MAX,
    CreateWebhookKey,
    DeleteWebhookKey,
    ListWebhookKeys,
)
from brokerplane.core.backoffice.model import WebhookKey

router = APIRouter()

COLLECTIONS = ("/webhookskeys", "/webhooksKeys")


def key_json(key: WebhookKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "apiKey": key.api_key,
        "userId": key.user_id,
        "createdAt": millis(key.created_at),
        "expirationDate": millis(key.expires_at),
        "lastUsedAt": millis(key.last_used_at),
    }


async def generate(request: Request) -> Response:
    caller = await caller_of(request)
    body = await Body.of(request, required=False)
    name = body.text("name")
    if name is not None and len(name.strip()) > WEBHOOK_NAME_MAX:
        raise invalid(f"name must be at most {WEBHOOK_NAME_MAX} characters")
    expires_ms = body.integer("expirationDate", "expiryDate")
    expires_at = None
    if expires_ms is not None:
        if not 0 < expires_ms <= 253_402_300_799_999:
            raise invalid("expirationDate must be epoch milliseconds")
        expires_at = datetime.fromtimestamp(expires_ms / 1000, UTC)
    if caller.user_id is not None:
        named = body.integer("userId")
        if named is not None and named != caller.user_id:
            raise invalid("a user generates keys for itself only; leave userId out")
        cmd = CreateWebhookKey(caller.user_id, name, expires_at, as_user=caller.user_id)
    else:
        user_id = body.integer("userId")
        if user_id is None:
            raise invalid("userId is required: a back-office user generates keys for a user")
        cmd = CreateWebhookKey(user_id, name, expires_at)
    issued = await run_in_threadpool(services_of(request).create_webhook_key, cmd, caller.actor)
    return answer({**key_json(issued.key), "secretKey": issued.secret})


async def list_keys(request: Request) -> Response:
    caller = await caller_of(request)
    if caller.user_id is not None:
        query = ListWebhookKeys(as_user=caller.user_id)
    else:
        query = ListWebhookKeys(user_id=query_int(request, "userId", 1))
    found = await run_in_threadpool(services_of(request).list_webhook_keys, query, caller.actor)
    return answer([key_json(k) for k in found])


async def delete_key(request: Request, key_id: str) -> Response:
    caller = await caller_of(request)
    cmd = DeleteWebhookKey(path_id(key_id, "webhookskeyId"), as_user=caller.user_id)
    gone = await run_in_threadpool(services_of(request).delete_webhook_key, cmd, caller.actor)
    return answer(key_json(gone))


for _path in COLLECTIONS:
    router.add_api_route(_path, generate, methods=["POST"])
    router.add_api_route(_path, list_keys, methods=["GET"])
    router.add_api_route(_path + "/{key_id}", delete_key, methods=["DELETE"])
