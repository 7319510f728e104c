"""Every endpoint the client covers, as a Call both clients send the same way."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticError

from brokerplane.client import errors
from brokerplane.client._http import (
    Call,
    check_idempotency_key,
    checked_page_size,
    model_decoder,
    money,
    new_idempotency_key,
)
from brokerplane.client.models import (
    Account,
    ApiKey,
    Approval,
    AuditRecord,
    Event,
    EventPage,
    IssuedKey,
    Operation,
    Page,
    Threshold,
    Transfer,
    Webhook,
    WebhookDelivery,
    WebhookTest,
)

Amount = Decimal | int | str

# The money endpoints by the name of the client's method.
OPERATIONS = {
    "deposit": "/balances/deposit",
    "withdraw": "/balances/withdraw",
    "credit": "/balances/credit",
    "bonus": "/balances/bonus",
    "correction": "/balances/correction",
    "charge": "/balances/charge",
}


def _segment(value: str | int) -> str:
    return quote(str(value), safe="")


def _key(idempotency_key: str | None) -> str:
    if idempotency_key is None:
        return new_idempotency_key()
    return check_idempotency_key(idempotency_key)


def _items(model: type[Any]) -> Any:
    """Decode `{"items": [...]}` into a list of `model`."""
    adapter: TypeAdapter[list[Any]] = TypeAdapter(list[model])  # type: ignore[valid-type]

    def decode(data: Any) -> list[Any]:
        if not isinstance(data, dict) or not isinstance(data.get("items"), list):
            raise errors.InvalidResponse(f"the answer is not a list of {model.__name__}")
        try:
            return adapter.validate_python(data["items"])
        except PydanticError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise errors.InvalidResponse(
                f"the answer is not a list of {model.__name__}: items.{where}: {first.get('msg')}"
            ) from None

    return decode


def write(
    method: str,
    path: str,
    model: type[Any],
    *,
    body: Any = None,
    ok: tuple[int, ...] = (200,),
    idempotency_key: str | None = None,
) -> Call[Any]:
    """A write: it carries an idempotency key (the caller's, or a new one), so it can be sent
    again safely after a dropped connection, a timeout or a 5xx."""
    return Call(
        method, path, model_decoder(model), body=body, ok=ok, idempotency_key=_key(idempotency_key)
    )


# ---- accounts -------------------------------------------------------------------------------


def open_account(fields: dict[str, Any], idempotency_key: str | None) -> Call[Account]:
    body = {k: v for k, v in fields.items() if v is not None}
    return write("POST", "/users", Account, body=body, ok=(201,), idempotency_key=idempotency_key)


def get_account(login: int) -> Call[Account]:
    return Call("GET", f"/users/{_segment(login)}", model_decoder(Account))


def update_account(login: int, changes: dict[str, Any], idem: str | None) -> Call[Account]:
    if not changes:
        raise ValueError("nothing to update: name at least one field")
    return write("PATCH", f"/users/{_segment(login)}", Account, body=changes, idempotency_key=idem)


def disable_account(login: int, reason: str, idem: str | None) -> Call[Account]:
    return write(
        "POST",
        f"/users/{_segment(login)}/disable",
        Account,
        body={"reason": reason},
        idempotency_key=idem,
    )


def enable_account(login: int, idem: str | None) -> Call[Account]:
    return write("POST", f"/users/{_segment(login)}/enable", Account, idempotency_key=idem)


def account_history(login: int) -> Call[list[AuditRecord]]:
    return Call("GET", f"/users/{_segment(login)}/history", _items(AuditRecord))


def account_filters(
    group: str | None,
    email: str | None,
    logins: list[int] | tuple[int, ...] | None,
    registered_from: datetime | str | None,
    registered_to: datetime | str | None,
) -> dict[str, Any]:
    return {
        "group": group,
        "email": email,
        "logins": logins,
        "registered_from": registered_from,
        "registered_to": registered_to,
    }


def page_call(
    path: str, model: type[Any], params: dict[str, Any], page_size: int, cursor: str | None
) -> Call[Page[Any]]:
    query = {**params, "limit": checked_page_size(page_size), "cursor": cursor}
    return Call("GET", path, model_decoder(Page[model]), params=query)  # type: ignore[valid-type]


def export_call(path: str, params: dict[str, Any]) -> Call[None]:
    return Call(
        "GET",
        path,
        lambda _: None,
        params={**params, "format": "csv"},
        headers={"Accept": "text/csv"},
    )


# ---- money ----------------------------------------------------------------------------------


def balance(
    operation: str, login: int, amount: Amount, comment: str, reference: str, idem: str | None
) -> Call[Operation]:
    body = {"login": login, "amount": money(amount), "comment": comment, "reference": reference}
    return write(
        "POST", OPERATIONS[operation], Operation, body=body, ok=(200, 202), idempotency_key=idem
    )


TRANSFER = "/balances/transfer"


def transfer(
    source: int, target: int, amount: Amount, comment: str, reference: str, idem: str | None
) -> Call[Transfer]:
    body = {
        "from_login": source,
        "to_login": target,
        "amount": money(amount),
        "comment": comment,
        "reference": reference,
    }
    return write("POST", TRANSFER, Transfer, body=body, idempotency_key=idem)


def applied(op: Operation, require_applied: bool) -> Operation:
    if require_applied and op.pending:
        raise errors.PendingApproval(op)
    return op


def history_filters(
    login: int | None,
    kinds: list[str] | tuple[str, ...] | None,
    since: datetime | str | None,
    until: datetime | str | None,
    reference: str | None,
) -> dict[str, Any]:
    return {"login": login, "kind": kinds, "from": since, "to": until, "reference": reference}


# ---- approvals ------------------------------------------------------------------------------


def get_approval(approval_id: int) -> Call[Approval]:
    return Call("GET", f"/approvals/{_segment(approval_id)}", model_decoder(Approval))


def decide(approval_id: int, approve: bool, comment: str, idem: str | None) -> Call[Approval]:
    verb = "approve" if approve else "reject"
    return write(
        "POST",
        f"/approvals/{_segment(approval_id)}/{verb}",
        Approval,
        body={"comment": comment},
        idempotency_key=idem,
    )


def list_thresholds() -> Call[list[Threshold]]:
    return Call("GET", "/approval-thresholds", _items(Threshold))


def set_threshold(
    currency: str, amount: Amount | None, group: str | None, idem: str | None
) -> Call[Threshold | None]:
    body = {
        "currency": currency,
        "group": group,
        "amount": None if amount is None else money(amount),
    }
    one = model_decoder(Threshold)

    def decode(data: Any) -> Threshold | None:
        if isinstance(data, dict) and data.get("removed") is True:
            return None
        result: Threshold = one(data)
        return result

    call = write("PUT", "/approval-thresholds", Threshold, body=body, idempotency_key=idem)
    call.decode = decode
    return call


# ---- keys -----------------------------------------------------------------------------------


def list_keys(manager: int | None) -> Call[list[ApiKey]]:
    return Call("GET", "/keys", _items(ApiKey), params={"manager": manager})


def create_key(
    scopes: list[str] | tuple[str, ...],
    name: str,
    expires_at: datetime | None,
    manager_login: int | None,
    idem: str | None,
) -> Call[IssuedKey]:
    if isinstance(scopes, str):
        raise TypeError("scopes is a list of scope names")
    body = {
        "scopes": list(scopes),
        "name": name,
        "expires_at": expires_at,
        "manager_login": manager_login,
    }
    return write("POST", "/keys", IssuedKey, body=body, ok=(201,), idempotency_key=idem)


def rotate_key(key_id: str, idem: str | None) -> Call[IssuedKey]:
    return write(
        "POST", f"/keys/{_segment(key_id)}/rotate", IssuedKey, ok=(201,), idempotency_key=idem
    )


def revoke_key(key_id: str, idem: str | None) -> Call[ApiKey]:
    return write("DELETE", f"/keys/{_segment(key_id)}", ApiKey, idempotency_key=idem)


def with_secret(issued: IssuedKey) -> IssuedKey:
    if issued.key is None:
        raise errors.SecretNotReturned(issued)
    return issued


# ---- events ---------------------------------------------------------------------------------

Types = list[str] | tuple[str, ...] | None


def _cursor(after: int, name: str = "after") -> int:
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise ValueError(f"{name} is an event id (an int, 0 for the start)")
    return after


def _type_names(types: Types) -> list[str] | None:
    if isinstance(types, str):
        raise TypeError("types is a list of event types or prefixes ('account.')")
    return list(types) if types else None


def events_page(after: int, types: Types, group: str | None, limit: int) -> Call[EventPage]:
    params = {
        "after": _cursor(after),
        "types": _type_names(types),
        "group": group,
        "limit": checked_page_size(limit),
    }
    return Call("GET", "/events", model_decoder(EventPage), params=params)


def event_types() -> Call[list[str]]:
    def decode(data: Any) -> list[str]:
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
            raise errors.InvalidResponse("the answer is not a list of event types")
        return items

    return Call("GET", "/events/types", decode)


def event_stream(after: int, types: Types, group: str | None) -> Call[None]:
    """The feed as Server-Sent Events from after `after` (sent as Last-Event-ID too, which the
    server prefers, as a browser's EventSource does when it reconnects)."""
    after = _cursor(after)
    headers = {"Accept": "text/event-stream"}
    if after:
        headers["Last-Event-ID"] = str(after)
    params = {"after": after, "types": _type_names(types), "group": group}
    return Call("GET", "/events", lambda _: None, params=params, headers=headers)


def stream_event(data: str) -> Event:
    """An SSE message's data: one event, as the JSON feed has it."""
    try:
        parsed = json.loads(data)
    except ValueError:
        raise errors.InvalidResponse(f"an event's data is not JSON: {data[:80]!r}") from None
    event: Event = model_decoder(Event)(parsed)
    return event


# ---- webhooks -------------------------------------------------------------------------------


def _webhook(sub_id: int, tail: str = "") -> str:
    return f"/webhooks/{_segment(sub_id)}{tail}"


def webhook_fields(**fields: Any) -> dict[str, Any]:
    if isinstance(fields.get("types"), str):
        raise TypeError("types is a list of event types or prefixes ('ledger.')")
    if fields.get("types") is not None:
        fields["types"] = list(fields["types"])
    return {k: v for k, v in fields.items() if v is not None}


def create_webhook(fields: dict[str, Any], idem: str | None) -> tuple[Call[Webhook], str]:
    """The create call and the secret it sends: the caller's, or one made here, so the secret
    is known even when the answer that shows it is lost and a retry gets the replay (which
    never repeats it)."""
    secret = fields.get("secret") or secrets.token_urlsafe(32)
    body = {**fields, "secret": secret}
    call = write("POST", "/webhooks", Webhook, body=body, ok=(201,), idempotency_key=idem)
    return call, secret


def with_webhook_secret(sub: Webhook, secret: str) -> Webhook:
    return sub if sub.secret else sub.model_copy(update={"secret": secret})


def list_webhooks() -> Call[list[Webhook]]:
    return Call("GET", "/webhooks", _items(Webhook))


def get_webhook(sub_id: int) -> Call[Webhook]:
    return Call("GET", _webhook(sub_id), model_decoder(Webhook))


def update_webhook(sub_id: int, changes: dict[str, Any], idem: str | None) -> Call[Webhook]:
    if not changes:
        raise ValueError("nothing to update: name at least one field")
    return write("PATCH", _webhook(sub_id), Webhook, body=changes, idempotency_key=idem)


def delete_webhook(sub_id: int, idem: str | None) -> Call[None]:
    def decode(data: Any) -> None:
        if not isinstance(data, dict) or data.get("deleted") is not True:
            raise errors.InvalidResponse("the answer does not say the subscription was deleted")

    return Call("DELETE", _webhook(sub_id), decode, idempotency_key=_key(idem))


def replay_webhook(sub_id: int, from_id: int, idem: str | None) -> Call[Webhook]:
    if isinstance(from_id, bool) or not isinstance(from_id, int) or from_id < 1:
        raise ValueError("from_id is an event id (1 or more)")
    body = {"from": from_id}
    return write("POST", _webhook(sub_id, "/replay"), Webhook, body=body, idempotency_key=idem)


def send_webhook_test(sub_id: int) -> Call[WebhookTest]:
    """Not retried: each attempt would send the receiver another test."""
    return Call("POST", _webhook(sub_id, "/test"), model_decoder(WebhookTest))


def webhook_deliveries(sub_id: int, after: int, limit: int) -> Call[list[WebhookDelivery]]:
    params = {"after": _cursor(after), "limit": checked_page_size(limit)}
    return Call("GET", _webhook(sub_id, "/deliveries"), _items(WebhookDelivery), params=params)
