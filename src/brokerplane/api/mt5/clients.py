"""MT5 client records (`client/add|get|get_ids`, `client/user/get_logins`) as brokerplane's users:
the person who owns trading accounts (the same user cTrader's cTID and TraderEvolution see).

Mapping (client record <- user): `RecordID` the user id, `PersonName` / `PersonLastName` the
first and last name, `ContactEmail` the email (blank without the `personal_data` right, as the
core redacts it), `ContactLanguage` the language code, `ClientExternalID` the nickname,
`ClientType` 1 (individual), `ClientStatus` the user's status number, `TradingGroup` the user
group's name ("" without one), `AssignedManager` 0, `Comment` "", `RegistrationTime` /
`LastUpdateTime` unix seconds.

- `client/add`: the body is one client record or an array of them; each is created on its own
  (`users:write`; a white label out of reach as for users elsewhere) and answered in an array
  `[{"id": "<RecordID>", "retcode": "0 Done"}, ...]` in the order sent, a failed one with its
  own retcode and id "0" (no email or an invalid one 3, an email already in use 17). The
  envelope's retcode is 0 when the body could be read; more than 100 records in one call is 3
  and creates none. brokerplane users need an email, so
  `ContactEmail` is required.
- `client/get?id=`: the record; 13 when absent or out of reach (users in a group or under a
  white label the manager does not reach).
- `client/get_ids[?group=masks]`: the ids of the users in reach, ascending; with `group`, those
  owning an account in a matching group, plus those owning no account (MT5 keeps clients
  without accounts in every filtered answer so they are not lost).
- `client/user/get_logins?id=`: the logins of the user's accounts in reach, as strings.

Not served (12000, see the docs): `client/update`, `client/delete`, `client/history/get`,
`client/user/add`, `client/user/delete` — the core has no command to rename or delete a user,
keeps its history only in the audit trail, and binds an account to a user only with the
account's password as proof (cTID's rule), which MT5's manager binding does not carry.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from brokerplane.api.mt5.protocol import Answer, Context, command
from brokerplane.api.mt5.retcodes import ERR_PARAMS, Mt5Error, code_for, retcode
from brokerplane.core.account.service import ListAccounts
from brokerplane.core.errors import CoreError
from brokerplane.core.user.model import User, UserQuery
from brokerplane.core.user.service import CreateUser
from brokerplane.paramnames import norm

CLIENT_INDIVIDUAL = 1
USERS_PER_QUERY = 1000
MAX_RECORDS_PER_ADD = 100  # client/add takes at most this many records in one call
MAX_ID = 2**63 - 1


def _unix(value: datetime | None) -> int:
    return int(value.timestamp()) if value else 0


def render_client(user: User, group: str) -> dict[str, Any]:
    return {
        "RecordID": user.id,
        "ClientType": CLIENT_INDIVIDUAL,
        "ClientStatus": user.status,
        "ClientExternalID": user.nickname,
        "AssignedManager": 0,
        "PersonName": user.first_name,
        "PersonLastName": user.last_name,
        "PersonMiddleName": "",
        "ContactEmail": user.email,
        "ContactLanguage": user.language,
        "TradingGroup": group,
        "Comment": "",
        "RegistrationTime": _unix(user.created_at),
        "LastUpdateTime": _unix(user.updated_at),
    }


def _group_names(ctx: Context) -> dict[int, str]:
    return {g.id: g.name for g in ctx.services.list_groups(ctx.actor)}


def _field(item: dict[str, Any], name: str) -> str:
    for key, value in item.items():
        if norm(str(key)) == norm(name):
            if isinstance(value, (dict, list)):
                raise Mt5Error(ERR_PARAMS, f"{name} must be a string")
            return "" if value is None else str(value).strip()
    return ""


def _add_one(ctx: Context, item: Any) -> dict[str, Any]:
    try:
        if not isinstance(item, dict):
            raise Mt5Error(ERR_PARAMS, "a client record is a JSON object")
        email = _field(item, "ContactEmail")
        if not email:
            raise Mt5Error(ERR_PARAMS, "ContactEmail is required")
        cmd = CreateUser(email=email, first_name=_field(item, "PersonName"),
                         last_name=_field(item, "PersonLastName"),
                         language=_field(item, "ContactLanguage"))  # fmt: skip
        created = ctx.services.create_user(cmd, ctx.actor)
    except Mt5Error as err:
        return {"id": 0, "retcode": retcode(err.code)}
    except CoreError as err:
        return {"id": 0, "retcode": retcode(code_for(err))}
    return {"id": created.user.id, "retcode": retcode(0)}


@command("client/add")
def client_add(ctx: Context) -> Answer:
    p = ctx.params
    items: list[Any] = p.body_list if p.body_list is not None else ([p.body] if p.body else [])
    if not items:
        raise Mt5Error(ERR_PARAMS, "send one client record or an array of them as JSON")
    if len(items) > MAX_RECORDS_PER_ADD:
        raise Mt5Error(ERR_PARAMS, f"send at most {MAX_RECORDS_PER_ADD} client records at once")
    ctx.actor.require("users:write")
    return Answer([_add_one(ctx, item) for item in items])


def _id(ctx: Context) -> int:
    return ctx.params.require_integer("id", low=1, high=MAX_ID)


@command("client/get")
def client_get(ctx: Context) -> Answer:
    user = ctx.services.get_user(_id(ctx), ctx.actor)
    group = _group_names(ctx).get(user.group_id, "") if user.group_id is not None else ""
    return Answer(render_client(user, group))


def _users(ctx: Context) -> Iterator[User]:
    after: int | None = None
    while True:
        page = ctx.services.list_users(UserQuery(after_id=after, limit=USERS_PER_QUERY),
                                       ctx.actor)  # fmt: skip
        yield from page
        if len(page) < USERS_PER_QUERY:
            return
        after = page[-1].id


@command("client/get_ids")
def client_get_ids(ctx: Context) -> Answer:
    mask = ctx.params.text("group")
    ids = sorted(u.id for u in _users(ctx))
    if mask is None or not mask.strip():
        return Answer(ids)
    owners = {
        a.user_id for a in ctx.services.iter_accounts(ListAccounts(), ctx.actor, "users:read")
    }
    matching = {
        a.user_id
        for a in ctx.services.iter_accounts(ListAccounts(group_mask=mask), ctx.actor, "users:read")
    }
    return Answer([i for i in ids if i in matching or i not in owners])


@command("client/user/get_logins")
def client_user_get_logins(ctx: Context) -> Answer:
    found = ctx.services.get_user_with_accounts(_id(ctx), ctx.actor)
    return Answer([str(a.login) for a in found.accounts if a.deleted_at is None])
