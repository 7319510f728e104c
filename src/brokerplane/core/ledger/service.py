"""Ledger commands: post a money movement (or hold it for approval), read history, verify.

Above the approval threshold an operation is held for a second manager, whoever asks and
through whichever dialect: nobody approves their own operation, not even a manager who holds
balances:approve. The native API answers a held operation with its 202; a dialect with no
"held" answer (MT5, cTrader, TraderEvolution) renders the same held posting as its refusal,
naming the approval, which a different manager approves through `/v1/approvals`. Where nothing
can be held (a starting balance posted with the account's opening, `on_threshold="refuse"`)
an operation above the threshold is refused with ApprovalRequired, for everyone.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

from brokerplane.core.access import reach
from brokerplane.core.access.service import people_behind, people_text
from brokerplane.core.account.checks import check_login
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.approval.model import Approval, ApprovalQuery
from brokerplane.core.audit import ties
from brokerplane.core.audit.service import record
from brokerplane.core.clock import Clock
from brokerplane.core.config import CoreConfig
from brokerplane.core.errors import (
    AccountNotFound,
    AmountLimitExceeded,
    ApprovalRequired,
    FieldError,
    InsufficientFunds,
    InvalidAmount,
    ValidationError,
)
from brokerplane.core.ledger.model import (
    COMMENT_MAX,
    KINDS,
    OPERATIONS,
    REFERENCE_MAX,
    SIGNED_OPERATIONS,
    TRANSFER_PREFIX,
    CurrencyMismatch,
    EntryClaim,
    EntryFacts,
    EntryProblem,
    FigureMismatch,
    LedgerEntry,
    LedgerQuery,
)
from brokerplane.core.money import (
    MAX_MINOR,
    Currency,
    format_amount,
    format_minor,
    parse_decimal,
    to_minor,
)
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.trading import risk
from brokerplane.core.validate import Problems

MAX_PAGE = 1000

# What happens to an operation above the approval threshold.
ON_THRESHOLD = ("hold", "refuse")


@dataclass(frozen=True)
class PostLedgerEntry:
    """Move money on `login`: `operation` is a kind, or `credit`/`bonus` signed by the amount.

    `on_threshold`: above the approval threshold, "hold" the operation for a second manager, or
    "refuse" it (ApprovalRequired) where it cannot be held; never applied at once.
    """

    login: int
    operation: str
    amount: object
    comment: str = ""
    reference: str = ""
    on_threshold: str = "hold"
    # Refuse taking money out beyond the free margin of an account with open positions (MT5's
    # check_margin=1, the default). False checks only that no figure goes below zero.
    check_margin: bool = True


@dataclass(frozen=True)
class Posting:
    """What a posting did: applied (with its entry) or held (with its approval)."""

    status: str
    login: int
    kind: str
    amount: int
    currency: Currency
    balance: int
    credit: int
    bonus: int
    entry: LedgerEntry | None = None
    approval: Approval | None = None
    comment: str = ""
    reference: str = ""

    @property
    def operation_id(self) -> int | None:
        return self.entry.id if self.entry else None


@dataclass(frozen=True)
class Movement:
    """A checked request: kind and signed amount in minor units, not yet applied."""

    kind: str
    amount: int


def _magnitude(operation: object, amount: object) -> tuple[str, Decimal, int]:
    """The operation's kind-to-be (or shorthand), its magnitude and its sign."""
    if not isinstance(operation, str) or operation not in OPERATIONS:
        raise ValidationError.field("kind", f"must be one of {', '.join(OPERATIONS)}")
    try:
        value = parse_decimal(amount, "amount")
    except ValidationError as err:
        raise InvalidAmount(err.detail, fields=err.fields) from None
    signed = operation in SIGNED_OPERATIONS or KINDS[operation][1] == 0
    if signed:
        if value == 0:
            raise InvalidAmount.field("amount", "must not be zero")
        return operation, abs(value), 1 if value > 0 else -1
    if value <= 0:
        raise InvalidAmount.field("amount", "must be positive")
    return operation, value, 1


def check_text(comment: object, reference: object) -> None:
    p = Problems()
    p.text("comment", comment, COMMENT_MAX)
    p.text("reference", reference, REFERENCE_MAX)
    p.raise_if_any()


def movement(operation: str, magnitude: Decimal, sign: int, cur: Currency,
             config: CoreConfig) -> Movement:  # fmt: skip
    """Resolve shorthands and convert to minor units, within the currency's digits and limit."""
    if magnitude > config.max_operation_amount:
        limit = format_amount(config.max_operation_amount, cur)
        raise AmountLimitExceeded.field(
            "amount", f"must be at most {limit} {cur.code} per operation"
        )
    try:
        units = to_minor(magnitude, cur)
    except ValidationError as err:
        raise InvalidAmount(err.detail, fields=err.fields) from None
    kind = operation
    if operation in SIGNED_OPERATIONS:
        plus, minus = SIGNED_OPERATIONS[operation]
        kind = plus if sign > 0 else minus
    return Movement(kind, units * (KINDS[kind][1] or sign))


def currency_of(acc: Account) -> Currency:
    return Currency(acc.currency, acc.currency_digits)


def figures(acc: Account) -> dict[str, int]:
    return {"balance": acc.balance, "credit": acc.credit, "bonus": acc.bonus}


def check_funds(acc: Account, move: Movement) -> dict[str, int]:
    """The account's figures after the movement; refuses any figure going below zero."""
    figure = KINDS[move.kind][0]
    after = figures(acc)
    after[figure] += move.amount
    if after[figure] > MAX_MINOR:
        raise AmountLimitExceeded.field(
            "amount", f"would take the {figure} beyond the largest amount brokerplane stores"
        )
    if move.amount < 0 and after[figure] < 0:
        cur = currency_of(acc)
        held = format_minor(getattr(acc, figure), cur)
        wanted = format_minor(-move.amount, cur)
        raise InsufficientFunds(
            f"{move.kind} of {wanted} {cur.code} exceeds the account's {figure} of {held}",
            fields=[FieldError("amount", f"exceeds the {figure} held ({held} {cur.code})")],
            login=acc.login,
            figure=figure,
            available=held,
        )
    return after


def check_free_margin(uow: UnitOfWork, acc: Account, move: Movement) -> None:
    """Money out of an account with open positions may not exceed its free margin."""
    if move.amount >= 0:
        return
    state = risk.account_risk(uow, acc)
    if not state.positions or -move.amount <= state.free_margin:
        return
    cur = currency_of(acc)
    free = format_minor(max(state.free_margin, 0), cur)
    wanted = format_minor(-move.amount, cur)
    raise InsufficientFunds(
        f"{move.kind} of {wanted} {cur.code} exceeds the account's free margin of {free}",
        fields=[FieldError("amount", f"exceeds the free margin ({free} {cur.code})")],
        login=acc.login,
        figure="free_margin",
        available=free,
    )


def load_for_update(uow: UnitOfWork, login: int, actor: Actor) -> Account:
    """The account, locked, if it exists and is within the actor's reach."""
    acc = uow.accounts.get(login, for_update=True)
    if acc is None:
        raise AccountNotFound(login)
    return reach.check_account(actor, acc)


def apply(
    uow: UnitOfWork,
    acc: Account,
    move: Movement,
    actor: Actor,
    now: datetime,
    *,
    comment: str,
    reference: str,
    origin: Approval | None = None,
    margin: bool = True,
    audited: bool = True,
) -> tuple[LedgerEntry, Account]:
    """Append the entry and move the cached figure in the same transaction, audited.

    `origin`: the approval being carried out (its approver is the actor); `margin`: whether
    money out is limited by the free margin too; `audited` False: the caller writes the one
    record that names this entry (a transfer names both of its legs in one record)."""
    after = check_funds(acc, move)
    if margin:
        check_free_margin(uow, acc, move)
    entry = LedgerEntry(
        login=acc.login, kind=move.kind, amount=move.amount,
        balance_after=after["balance"], credit_after=after["credit"], bonus_after=after["bonus"],
        currency=acc.currency, currency_digits=acc.currency_digits, at=now,
        comment=comment, reference=reference,
        manager_login=origin.requested_by if origin else actor.manager_login,
        key_id=origin.requested_key if origin else actor.key_id,
        operator_id=origin.requested_operator if origin else actor.operator_id,
        request_id=origin.request_id if origin else actor.request_id,
        dialect=origin.dialect if origin else actor.dialect,
        approval_id=origin.id if origin else None,
        approved_by=actor.manager_login if origin else None,
    )  # fmt: skip
    uow.ledger.add(entry)
    updated = replace(acc, balance=after["balance"], credit=after["credit"],
                      bonus=after["bonus"], updated_at=now)  # fmt: skip
    uow.accounts.set_figures(acc.login, after["balance"], after["credit"], after["bonus"], now)
    if not audited:
        return entry, updated
    record(uow, actor, now, "ledger.entry_posted", "account", acc.login, figures(acc),
           {**after, "entry": entry.snapshot()})  # fmt: skip
    return entry, updated


def threshold_for(uow: UnitOfWork, acc: Account) -> int | None:
    """The approval threshold (minor units) for this account: its group's, else its currency's."""
    return uow.thresholds.applicable(acc.currency, acc.group_id)


def post_entry(
    uow: UnitOfWork, cmd: PostLedgerEntry, actor: Actor, clock: Clock, config: CoreConfig
) -> Posting:
    actor.require("balances:write")
    if cmd.on_threshold not in ON_THRESHOLD:
        raise ValidationError.field("on_threshold", f"must be one of {', '.join(ON_THRESHOLD)}")
    operation, magnitude, sign = _magnitude(cmd.operation, cmd.amount)
    check_text(cmd.comment, cmd.reference)
    if isinstance(cmd.reference, str) and cmd.reference.startswith(TRANSFER_PREFIX):
        raise ValidationError.field(
            "reference", f"must not start with {TRANSFER_PREFIX!r}: it marks transfers"
        )
    login = check_login(cmd.login)
    acc = load_for_update(uow, login, actor)
    cur = currency_of(acc)
    move = movement(operation, magnitude, sign, cur, config)
    now = clock()
    threshold = threshold_for(uow, acc)
    if threshold is not None and abs(move.amount) > threshold:
        check_funds(acc, move)  # refuse now what could never be applied
        if cmd.check_margin:
            check_free_margin(uow, acc, move)
        if cmd.on_threshold == "refuse":
            raise _approval_required(acc, move, threshold)
        approval = Approval(
            login=login, kind=move.kind, amount=move.amount, currency=cur.code,
            currency_digits=cur.digits, requested_at=now, expires_at=now + config.approval_ttl,
            comment=cmd.comment, reference=cmd.reference, requested_by=actor.manager_login,
            requested_people=people_text(people_behind(uow, actor)) or None,
            requested_key=actor.key_id, requested_operator=actor.operator_id,
            request_id=actor.request_id, dialect=actor.dialect,
        )  # fmt: skip
        uow.approvals.add(approval)
        record(uow, actor, now, "approval.requested", "approval", approval.id, None,
               approval.snapshot())  # fmt: skip
        return Posting("pending_approval", login, move.kind, move.amount, cur, acc.balance,
                       acc.credit, acc.bonus, approval=approval, comment=cmd.comment,
                       reference=cmd.reference)  # fmt: skip
    entry, updated = apply(uow, acc, move, actor, now, comment=cmd.comment,
                           reference=cmd.reference, margin=cmd.check_margin)  # fmt: skip
    return posting_of(entry, updated)


def _approval_required(acc: Account, move: Movement, threshold: int) -> ApprovalRequired:
    """An above-threshold operation that cannot be held: refused, whatever the actor's rights
    (the approve right approves others' operations, never one's own)."""
    cur = currency_of(acc)
    wanted = format_minor(abs(move.amount), cur)
    limit = format_minor(threshold, cur)
    return ApprovalRequired(
        f"{move.kind} of {wanted} {cur.code} is above the approval threshold of {limit} "
        f"{cur.code} and cannot be held here; post it on its own, where a second manager "
        "approves it",
        fields=[FieldError("amount", f"above the approval threshold ({limit} {cur.code})")],
        login=acc.login,
        threshold=limit,
    )


def posting_of(entry: LedgerEntry, acc: Account) -> Posting:
    return Posting("applied", entry.login, entry.kind, entry.amount, currency_of(acc),
                   entry.balance_after, entry.credit_after, entry.bonus_after, entry=entry,
                   comment=entry.comment, reference=entry.reference)  # fmt: skip


def list_entries(uow: UnitOfWork, query: LedgerQuery, actor: Actor) -> list[LedgerEntry]:
    """One page of entries, oldest first, after `after_id`."""
    actor.require_any("balances:write", "reports:read")
    if not 1 <= query.limit <= MAX_PAGE:
        raise ValidationError.field("limit", f"must be between 1 and {MAX_PAGE}")
    for kind in query.kinds or ():
        if kind not in KINDS:
            raise ValidationError.field("kind", f"must be among {', '.join(KINDS)}")
    if query.reference is not None and len(query.reference) > REFERENCE_MAX:
        raise ValidationError.field("reference", f"is longer than {REFERENCE_MAX} characters")
    if query.login is not None:
        acc = uow.accounts.get(check_login(query.login))
        if acc is None:
            raise AccountNotFound(query.login)
        reach.check_account(actor, acc)
    group_ids, brokers = reach.query_scope(uow, actor)
    return uow.ledger.list(replace(query, group_ids=group_ids, broker_mask=brokers))


def verify(uow: UnitOfWork) -> list[FigureMismatch]:
    """Accounts whose cached balance, credit or bonus is not the sum of their entries."""
    return uow.ledger.mismatches()


# Fields an audit record's claim is compared on, with the words the report uses.
_TIED_FIELDS = (("kind", "kind"), ("amount", "amount"), ("balance_after", "balance after"),
                ("credit_after", "credit after"), ("bonus_after", "bonus after"))  # fmt: skip
TIE_CHUNK = 5000


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _metadata_agrees(e: EntryFacts, c: EntryClaim) -> bool:
    """The usual case of _check_metadata, without making a generator per entry."""
    return (
        (c.currency is None or c.currency == e.currency)
        and (c.currency_digits is None or c.currency_digits == e.currency_digits)
        and (c.at is None or c.at == e.at)
        and (c.comment is None or c.comment == e.comment)
        and (c.reference is None or c.reference == e.reference)
        and (
            not c.approval_said
            or (
                c.approval_id is None
                and e.approval_id is None
                and e.manager_login == c.actor
                and e.approved_by is None
            )
            or (
                c.approval_id is not None
                and c.approval_id == e.approval_id
                and e.approved_by == c.actor
                and (c.requester is None or e.manager_login == c.requester)
            )
        )
    )


def _check_metadata(e: EntryFacts, c: EntryClaim) -> Iterator[EntryProblem]:
    """The rest of the entry against its record: currency, time, texts, who posted and approved
    it. A record that does not say a field (an older one) is not held to it."""

    def differs(words: str, has: object, said: object) -> EntryProblem:
        return EntryProblem(f"entry {e.id} on account {e.login}: {words} {has!r}, its audit "
                            f"record {c.record_id} says {said!r}", e.id, e.login,
                            c.record_id)  # fmt: skip

    if c.currency is not None and c.currency != e.currency:
        yield differs("currency", e.currency, c.currency)
    if c.currency_digits is not None and c.currency_digits != e.currency_digits:
        yield differs("currency digits", e.currency_digits, c.currency_digits)
    if c.at is not None and e.at is not None and _utc(c.at) != _utc(e.at):
        yield differs("time", _utc(e.at).isoformat(), _utc(c.at).isoformat())
    if c.comment is not None and c.comment != e.comment:
        yield differs("comment", e.comment, c.comment)
    if c.reference is not None and c.reference != e.reference:
        yield differs("reference", e.reference, c.reference)
    if not c.approval_said:
        return
    if c.approval_id != e.approval_id:
        yield differs("approval", e.approval_id, c.approval_id)
    if c.approval_id is None:
        if e.manager_login != c.actor:
            yield differs("manager", e.manager_login, c.actor)
        if e.approved_by is not None:
            yield differs("approved by", e.approved_by, None)
        return
    if e.approved_by != c.actor:
        yield differs("approved by", e.approved_by, c.actor)
    if c.requester is not None and e.manager_login != c.requester:
        yield differs("manager", e.manager_login, c.requester)


def check_entries(
    entries: Iterable[EntryFacts], claims: Iterable[EntryClaim], chunk: int = TIE_CHUNK
) -> Iterator[EntryProblem]:
    """Every ledger entry must be named by exactly one audit record that says the same thing.

    Both streams come in id order and are read in step, `chunk` at a time: an entry and its
    record are written in one transaction, so what waits for its partner stays small. Entries
    already matched are remembered in a bitmap (one bit per entry id), so a second record naming
    one is told apart from a record naming an entry that is not there.
    """
    waiting_entries: dict[int, EntryFacts] = {}
    waiting_claims: dict[int, EntryClaim] = {}
    matched = bytearray()

    def mark(entry_id: int) -> None:
        byte = entry_id >> 3
        if byte >= len(matched):
            matched.extend(bytes(max(byte + 1 - len(matched), len(matched))))
        matched[byte] |= 1 << (entry_id & 7)

    def was_matched(entry_id: int) -> bool:
        byte = entry_id >> 3
        return byte < len(matched) and bool(matched[byte] & (1 << (entry_id & 7)))

    def compare(e: EntryFacts, c: EntryClaim) -> Iterator[EntryProblem]:
        mark(e.id)
        if (
            c.amount == e.amount
            and c.balance_after == e.balance_after
            and c.kind == e.kind
            and c.login == str(e.login)
            and (c.credit_after is None or c.credit_after == e.credit_after)
            and (c.bonus_after is None or c.bonus_after == e.bonus_after)
        ):
            if e.full and not _metadata_agrees(e, c):
                yield from _check_metadata(e, c)
            return  # the usual case, in two tests
        if e.full:
            yield from _check_metadata(e, c)
        if c.login != str(e.login):
            yield EntryProblem(f"entry {e.id} is on account {e.login}, its audit record "
                               f"{c.record_id} says account {c.login}", e.id, e.login,
                               c.record_id)  # fmt: skip
        for name, words in _TIED_FIELDS:
            said, has = getattr(c, name), getattr(e, name)
            if said is not None and has is not None and said != has:
                yield EntryProblem(f"entry {e.id} on account {e.login}: {words} {has}, its audit "
                                   f"record {c.record_id} says {said}", e.id, e.login,
                                   c.record_id)  # fmt: skip

    entry_iter, claim_iter = iter(entries), iter(claims)
    entries_done = claims_done = False
    while not (entries_done and claims_done):
        if not entries_done:
            taken = 0
            for e in entry_iter:
                claim = waiting_claims.pop(e.id, None)
                if claim is not None:
                    yield from compare(e, claim)
                else:
                    waiting_entries[e.id] = e
                taken += 1
                if taken == chunk:
                    break
            entries_done = taken < chunk
        if not claims_done:
            taken = 0
            for c in claim_iter:
                taken += 1
                if c.entry_id is None:
                    yield EntryProblem(f"audit record {c.record_id} posts money but names no "
                                       "ledger entry", record_id=c.record_id)  # fmt: skip
                elif c.entry_id in waiting_entries:
                    yield from compare(waiting_entries.pop(c.entry_id), c)
                elif c.entry_id in waiting_claims or was_matched(c.entry_id):
                    yield EntryProblem(f"entry {c.entry_id} is named by more than one audit "
                                       f"record (again by {c.record_id})", c.entry_id,
                                       record_id=c.record_id)  # fmt: skip
                else:
                    waiting_claims[c.entry_id] = c
                if taken == chunk:
                    break
            claims_done = taken < chunk
    for e in sorted(waiting_entries.values(), key=lambda x: x.id):
        yield EntryProblem(f"entry {e.id} on account {e.login} ({e.kind} {e.amount}) has no "
                           "audit record (written behind the ledger's back?)", e.id,
                           e.login)  # fmt: skip
    for c in sorted(waiting_claims.values(), key=lambda x: x.record_id):
        yield EntryProblem(f"audit record {c.record_id} names entry {c.entry_id} on account "
                           f"{c.login}, which is not in the ledger (deleted?)", c.entry_id,
                           record_id=c.record_id)  # fmt: skip


@dataclass(frozen=True)
class LedgerReport:
    """`ledger verify`'s findings: figures that are not the sums, entries the audit contradicts."""

    accounts: int
    entries: int
    figures: list[FigureMismatch]
    entry_problems: list[EntryProblem]
    # Accounts whose currency differs from their entries' or their opening record's.
    currencies: list[CurrencyMismatch] = field(default_factory=list)
    # Managers, API keys and approvals that differ from their newest audit record.
    row_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.figures or self.entry_problems or self.currencies or self.row_problems)


MAX_REPORTED = 1000


def audit_ledger(uow: UnitOfWork, max_reported: int = MAX_REPORTED) -> LedgerReport:
    """Recompute every account's figures from its entries and tie every entry to its audit
    record (at most `max_reported` entry problems are kept; the count goes on)."""
    figures_found = uow.ledger.mismatches()
    problems: list[EntryProblem] = []
    counted = CountingIter(uow.ledger.iter_facts())
    for problem in check_entries(counted, uow.audit.iter_entry_claims()):
        if len(problems) < max_reported:
            problems.append(problem)
    latest = ties.latest_snapshots(uow.audit.iter_snapshots(ties.TIED_TYPES))
    rows = itertools.chain(
        ties.check_managers(uow.managers.list(), latest),
        ties.check_api_keys(uow.api_keys.list(), latest),
        ties.check_approvals(_all_approvals(uow), latest),
    )
    return LedgerReport(uow.ledger.accounts_count(), counted.count, figures_found, problems,
                        uow.ledger.currency_mismatches(),
                        list(itertools.islice(rows, max_reported)))  # fmt: skip


def _all_approvals(uow: UnitOfWork) -> Iterator[Approval]:
    after = 0
    while True:
        page = uow.approvals.list(ApprovalQuery(after_id=after, limit=MAX_PAGE))
        yield from page
        if len(page) < MAX_PAGE:
            return
        after = page[-1].id


class CountingIter:
    """An iterator that counts what passed through it."""

    def __init__(self, inner: Iterable[EntryFacts]) -> None:
        self._inner = iter(inner)
        self.count = 0

    def __iter__(self) -> Iterator[EntryFacts]:
        return self

    def __next__(self) -> EntryFacts:
        item = next(self._inner)
        self.count += 1
        return item
