"""MT5's account-side identity: the manager as an account, and the second factors brokerplane
does not keep (`user/otp_secret/get`, `user/certificate/get`).

In MT5 a manager is also an account (same login space). brokerplane keeps managers apart from
trading accounts, so:
- `user/get` of the session's own login, when no trading account has that login, answers a
  record made from the manager: group `managers\\administrators` (a manager with the `admin`
  right) or `managers\\dealers`, the manager's name, rights ENABLED|PASSWORD, the server
  currency, no money. Another manager's login stays 13, as any login out of reach.
- `user/delete` of the session's own login is `3005 Attempt of self-deletion`, checked before
  anything else (whether or not an account has that login).

`user/otp_secret/get?login=`: brokerplane keeps no one-time-password secrets: `{"OTPSecret": ""}`
for an account in reach (13 otherwise). `user/certificate/get?login=`: no account has a
certificate: `13 Not found` (MT5's answer for a certificate that does not exist), after the
account's own checks (3 without login, 8 without `users:read`, 13 when absent or out of reach).
"""

from __future__ import annotations

from brokerplane.api.mt5.errors import ERR_NOTFOUND, Mt5Error
from brokerplane.api.mt5.wire import Answer, Context, command
from brokerplane.core.account.model import RIGHT_ENABLED, RIGHT_PASSWORD, Account
from brokerplane.core.money import KNOWN_DIGITS

SELF_DELETION = 3005
ADMINISTRATORS = "managers\\administrators"
DEALERS = "managers\\dealers"


def manager_account(ctx: Context, login: int) -> Account | None:
    """The session's manager as an MT5 account record, when `login` is its own; else None."""
    if login != ctx.actor.manager_login:
        return None
    manager = ctx.services.get_manager(login)
    if manager is None:
        return None
    currency = ctx.services.config.server_currency
    return Account(
        login=manager.login,
        group_id=0,
        group=ADMINISTRATORS if "admin" in manager.rights else DEALERS,
        currency=currency,
        currency_digits=KNOWN_DIGITS.get(currency, 2),
        leverage=100,
        name=manager.name,
        rights=RIGHT_ENABLED | RIGHT_PASSWORD,
        registered_at=manager.created_at,
        last_pass_change=manager.updated_at,
    )


def refuse_self_deletion(ctx: Context, login: int) -> None:
    if login == ctx.actor.manager_login:
        raise Mt5Error(SELF_DELETION, "a manager cannot delete its own account")


@command("user/otp_secret/get")
def user_otp_secret_get(ctx: Context) -> Answer:
    ctx.services.get_account(ctx.params.require_integer("login", low=1), ctx.actor)
    return Answer({"OTPSecret": ""})


@command("user/certificate/get")
def user_certificate_get(ctx: Context) -> Answer:
    login = ctx.params.require_integer("login", low=1)
    ctx.services.get_account(login, ctx.actor)
    raise Mt5Error(ERR_NOTFOUND, f"account {login} has no certificate")
