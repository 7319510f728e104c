"""MT5 client records (every `client/*` command) as brokerplane's users: the person who owns
trading accounts (the same user cTrader's cTID and TraderEvolution see).

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
- `client/update`: one client record or an array of them, each naming its `RecordID`: the
  person's `PersonName`, `PersonLastName`, `ContactLanguage` and `ContactEmail` change (a field
  not sent, or an email sent empty, stays as it is; MT5's other fields have no counterpart in a
  brokerplane user and are ignored); `users:write`, the user in reach.
- `client/delete?id=1,2`: deletes users who own no account, open or archived (2003 while they
  do: unlink them with `client/user/delete` first); `users:delete`, as deleting an account.
  The user's id is never given again and its audit trail stays; its email is free for a new
  user.
- `client/history/get?id=[&from=&to=&author=]`: the user's audit trail as the client record
  after each change, oldest first (`LastUpdateTime` the change's time), optionally between two
  unix times and by one manager login; the newest 1,000 changes at most.
- `client/user/add?id=&login=1,2` / `client/user/delete?id=&login=`: make the user the owner
  of those accounts (no password asked: a manager who reaches the account may set its password
  anyway), or release them (no owner). An account owned by another user is 17; one not owned
  by this user is 13 on delete.

Batch answers (`client/update`, `client/delete`, `client/user/add|delete`): `[{"id"|"login":
..., "retcode": ...}, ...]` in the order sent; the envelope is `0 Done` when every item was,
the item's own retcode when there was one item, `14 Partial error` otherwise. Each item is its
own change; at most 100 in one call (more is 3 and changes nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from brokerplane.api.mt5.errors import ERR_PARAMS, Mt5Error, code_for, retcode
from brokerplane.api.mt5.wire import Answer, Context, command
from brokerplane.core.account.commands import ListAccounts
from brokerplane.core.audit.model import AuditRecord
from brokerplane.core.errors import CoreError
from brokerplane.core.user.commands import AssignAccount, CreateUser, DeleteUser, UpdateProfile
from brokerplane.core.user.model import User, UserQuery
from brokerplane.paramnames import norm

CLIENT_INDIVIDUAL = 1
USERS_PER_QUERY = 1000
MAX_RECORDS_PER_ADD = 100  # client/add takes at most this many records in one call
MAX_ID = 2**63 - 1
MAX_ITEMS = 100  # records, ids or logins one update/delete/link call takes
PARTIAL = 14


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
        "ContactLanguage": user.language.upper(),
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
        cmd = CreateUser(
            email=email,
            first_name=_field(item, "PersonName"),
            last_name=_field(item, "PersonLastName"),
            language=_field(item, "ContactLanguage"),
        )
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
    ctx.actor.require_for(CreateUser)
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
        page = ctx.services.list_users(UserQuery(after_id=after, limit=USERS_PER_QUERY), ctx.actor)
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
    owners = {a.user_id for a in ctx.services.iter_accounts(ListAccounts(), ctx.actor)}
    matching = {
        a.user_id for a in ctx.services.iter_accounts(ListAccounts(group_mask=mask), ctx.actor)
    }
    return Answer([i for i in ids if i in matching or i not in owners])


@command("client/user/get_logins")
def client_user_get_logins(ctx: Context) -> Answer:
    found = ctx.services.get_user_with_accounts(_id(ctx), ctx.actor)
    return Answer([str(a.login) for a in found.accounts if a.deleted_at is None])


# ---- changes: update, delete, link, unlink ---------------------------------------------------


def _batch(results: list[dict[str, Any]], codes: list[int]) -> Answer:
    """Per-item results; the envelope 0 when all were, the item's code for one, else 14."""
    failed = [c for c in codes if c != 0]
    code = 0 if not failed else (failed[0] if len(codes) == 1 else PARTIAL)
    return Answer(results, code=code)


def _attempt(run: Any) -> int:
    try:
        run()
    except Mt5Error as err:
        return err.code
    except CoreError as err:
        return code_for(err)
    return 0


def _optional(item: dict[str, Any], name: str) -> str | None:
    present = any(norm(str(k)) == norm(name) for k in item)
    return _field(item, name) if present else None


def _record_id(item: Any) -> int:
    if not isinstance(item, dict):
        raise Mt5Error(ERR_PARAMS, "a client record is a JSON object")
    raw = _field(item, "RecordID")
    # ASCII digits only (int() would take other scripts' digits), and no longer than an id
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19) or not 1 <= int(raw) <= MAX_ID:
        raise Mt5Error(ERR_PARAMS, "RecordID is required: the id of the client to update")
    return int(raw)


def _update_one(ctx: Context, item: Any) -> tuple[dict[str, Any], int]:
    ident = 0

    def run() -> None:
        nonlocal ident
        ident = _record_id(item)
        cmd = UpdateProfile(
            ident,
            first_name=_optional(item, "PersonName"),
            last_name=_optional(item, "PersonLastName"),
            language=_optional(item, "ContactLanguage"),
            email=_optional(item, "ContactEmail"),
        )
        ctx.services.update_user_profile(cmd, ctx.actor)

    code = _attempt(run)
    return {"id": ident, "retcode": retcode(code)}, code


def _items(ctx: Context) -> list[Any]:
    p = ctx.params
    items: list[Any] = p.body_list if p.body_list is not None else ([p.body] if p.body else [])
    if not items:
        raise Mt5Error(ERR_PARAMS, "send one client record or an array of them as JSON")
    if len(items) > MAX_ITEMS:
        raise Mt5Error(ERR_PARAMS, f"send at most {MAX_ITEMS} client records at once")
    return items


@command("client/update")
def client_update(ctx: Context) -> Answer:
    items = _items(ctx)
    ctx.actor.require_for(UpdateProfile)
    done = [_update_one(ctx, item) for item in items]
    return _batch([r for r, _ in done], [c for _, c in done])


def _id_list(ctx: Context, *names: str) -> list[int]:
    found = ctx.params.logins(*names)
    if not found:
        raise Mt5Error(ERR_PARAMS, f"{names[0]} is required: one or a comma list")
    if len(found) > MAX_ITEMS:
        raise Mt5Error(ERR_PARAMS, f"{names[0]}: at most {MAX_ITEMS} at once")
    return list(dict.fromkeys(found))


@command("client/delete")
def client_delete(ctx: Context) -> Answer:
    ids = _id_list(ctx, "id")
    ctx.actor.require_for(DeleteUser)  # the batch is refused whole, before any is tried
    codes = [_attempt(lambda i=i: ctx.services.delete_user(DeleteUser(i), ctx.actor)) for i in ids]
    return _batch(
        [{"id": i, "retcode": retcode(c)} for i, c in zip(ids, codes, strict=True)], codes
    )


def _client_id(ctx: Context) -> int:
    return ctx.params.require_integer("id", "client", low=1, high=MAX_ID)


def _link_command(ctx: Context, link: bool) -> Answer:
    user_id = _client_id(ctx)
    logins = _id_list(ctx, "login")
    ctx.actor.require_for(AssignAccount)
    act = ctx.services.assign_account if link else ctx.services.release_account
    codes = [_attempt(lambda n=n: act(AssignAccount(user_id, n), ctx.actor)) for n in logins]
    return _batch(
        [{"login": n, "retcode": retcode(c)} for n, c in zip(logins, codes, strict=True)], codes
    )


@command("client/user/add")
def client_user_add(ctx: Context) -> Answer:
    return _link_command(ctx, link=True)


@command("client/user/delete")
def client_user_delete(ctx: Context) -> Answer:
    return _link_command(ctx, link=False)


# ---- history ---------------------------------------------------------------------------------

_USER_FIELDS = frozenset(User.__dataclass_fields__)
# changes audited with only the fields they set (the rest carry full snapshots; links none)
_MARKS = frozenset({"user.agreement_accepted", "user.logged_out"})


def _as_user(state: dict[str, Any]) -> User:
    values = {k: v for k, v in state.items() if k in _USER_FIELDS}
    for name in ("created_at", "updated_at"):
        raw = values.get(name)
        values[name] = datetime.fromisoformat(raw) if isinstance(raw, str) and raw else None
    for name in ("agreement_accepted_at", "logged_out_at", "password"):
        values.pop(name, None)
    values.setdefault("email", "")
    values.setdefault("id", 0)
    return User(**values)


def _states(trail: list[AuditRecord]) -> Iterator[tuple[AuditRecord, dict[str, Any]]]:
    """The user's record after each audited change that touched it (links do not)."""
    state: dict[str, Any] = {}
    for rec in trail:
        after = rec.after or {}
        if "email" in after and "id" in after:
            state = dict(after)
        elif state and rec.action in _MARKS:
            state = state | {k: v for k, v in after.items() if k in _USER_FIELDS}
        else:
            continue
        yield rec, state


@command("client/history/get")
def client_history_get(ctx: Context) -> Answer:
    user_id = _id(ctx)
    since = ctx.params.integer("from", default=0, low=0)
    until = ctx.params.integer("to", default=MAX_ID, low=0)
    author = ctx.params.integer("author", low=0)
    trail = ctx.services.user_history(user_id, ctx.actor)
    names = _group_names(ctx)
    out: list[dict[str, Any]] = []
    for rec, state in _states(trail):
        at = _unix(rec.at)
        if not (since or 0) <= at <= (until if until is not None else MAX_ID):
            continue
        if author and rec.manager_login != author:
            continue
        user = _as_user(state)
        group_id = state.get("group_id")
        record = render_client(user, names.get(group_id, "") if isinstance(group_id, int) else "")
        record["RecordID"] = user_id
        record["LastUpdateTime"] = at
        out.append(record)
    return Answer(out)
