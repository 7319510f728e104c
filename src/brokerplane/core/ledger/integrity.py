"""`ledger verify`: every account's figures recomputed from its entries, every entry tied to its
audit record, and the managers, API keys and approvals tied to their newest audit records."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from brokerplane.core.approval.model import Approval, ApprovalQuery
from brokerplane.core.audit import ties
from brokerplane.core.ledger.commands import MAX_PAGE, MAX_REPORTED, LedgerReport
from brokerplane.core.ledger.model import EntryClaim, EntryFacts, EntryProblem, FigureMismatch
from brokerplane.core.ports import UnitOfWork


def verify(uow: UnitOfWork) -> list[FigureMismatch]:
    """Accounts whose cached balance, credit or bonus is not the sum of their entries."""
    return uow.ledger.mismatches()


# Fields an audit record's claim is compared on, with the words the report uses.
_TIED_FIELDS = (
    ("kind", "kind"),
    ("amount", "amount"),
    ("balance_after", "balance after"),
    ("credit_after", "credit after"),
    ("bonus_after", "bonus after"),
)
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
        return EntryProblem(
            f"entry {e.id} on account {e.login}: {words} {has!r}, its audit "
            f"record {c.record_id} says {said!r}",
            e.id,
            e.login,
            c.record_id,
        )

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
            yield EntryProblem(
                f"entry {e.id} is on account {e.login}, its audit record "
                f"{c.record_id} says account {c.login}",
                e.id,
                e.login,
                c.record_id,
            )
        for name, words in _TIED_FIELDS:
            said, has = getattr(c, name), getattr(e, name)
            if said is not None and has is not None and said != has:
                yield EntryProblem(
                    f"entry {e.id} on account {e.login}: {words} {has}, its audit "
                    f"record {c.record_id} says {said}",
                    e.id,
                    e.login,
                    c.record_id,
                )

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
                    yield EntryProblem(
                        f"audit record {c.record_id} posts money but names no ledger entry",
                        record_id=c.record_id,
                    )
                elif c.entry_id in waiting_entries:
                    yield from compare(waiting_entries.pop(c.entry_id), c)
                elif c.entry_id in waiting_claims or was_matched(c.entry_id):
                    yield EntryProblem(
                        f"entry {c.entry_id} is named by more than one audit "
                        f"record (again by {c.record_id})",
                        c.entry_id,
                        record_id=c.record_id,
                    )
                else:
                    waiting_claims[c.entry_id] = c
                if taken == chunk:
                    break
            claims_done = taken < chunk
    for e in sorted(waiting_entries.values(), key=lambda x: x.id):
        yield EntryProblem(
            f"entry {e.id} on account {e.login} ({e.kind} {e.amount}) has no "
            "audit record (written behind the ledger's back?)",
            e.id,
            e.login,
        )
    for c in sorted(waiting_claims.values(), key=lambda x: x.record_id):
        yield EntryProblem(
            f"audit record {c.record_id} names entry {c.entry_id} on account "
            f"{c.login}, which is not in the ledger (deleted?)",
            c.entry_id,
            record_id=c.record_id,
        )


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
    return LedgerReport(
        uow.ledger.accounts_count(),
        counted.count,
        figures_found,
        problems,
        uow.ledger.currency_mismatches(),
        list(itertools.islice(rows, max_reported)),
    )


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
