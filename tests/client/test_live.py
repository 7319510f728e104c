"""The client against a live `brokerplane serve`: accounts, money with its idempotency keys (a
repeat and a dropped answer), pages, a streamed export, errors as exceptions, approvals with
two managers' keys, and keys. Each behaviour once through Client and once through AsyncClient."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Unpack

import httpx
import pytest

from brokerplane.client import (
    Account,
    AlreadyApplied,
    AsyncClient,
    Client,
    Conflict,
    NotFound,
    PendingApproval,
    PermissionDenied,
    Profile,
    Retry,
    SecretNotReturned,
    TransportError,
    Unauthorized,
    ValidationError,
)
from tests.client.conftest import FAST, Live
from tests.client.wire import DroppingProxy, Seen


def _unique() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture
def bp(live: Live) -> Iterator[Client]:
    with Client(live.base, live.admin_key, operator_id="crm-test", retry=FAST) as client:
        yield client


def _open(bp: Client, live: Live, **profile: Unpack[Profile]) -> Account:
    return bp.accounts.open(group=live.group, leverage=100, name="Client Test", **profile)


# ---- accounts -------------------------------------------------------------------------------


def test_an_account_is_opened_read_updated_disabled_and_enabled(bp: Client, live: Live) -> None:
    opened = bp.accounts.open(
        group=live.group,
        leverage=100,
        name="Ada Lovelace",
        email="ada@example.com",
        country="United Kingdom",
        attributes={"crm_id": "A-1"},
    )
    assert (opened.group, opened.leverage, opened.currency) == (live.group, 100, "USD")
    assert opened.balance == Decimal("0.00") and opened.enabled
    assert opened.attributes == {"crm_id": "A-1"}

    assert bp.accounts.get(opened.login) == opened

    updated = bp.accounts.update(opened.login, leverage=200, city="London", comment="vip")
    assert (updated.leverage, updated.city, updated.comment) == (200, "London", "vip")
    assert updated.email == "ada@example.com"  # what was not named stays

    disabled = bp.accounts.disable(opened.login, "KYC expired")
    assert not disabled.enabled and disabled.disabled_reason == "KYC expired"
    assert disabled.disabled_at is not None
    assert bp.accounts.enable(opened.login).enabled

    actions = [r.action for r in bp.accounts.history(opened.login)]
    assert actions[0].startswith("account.") and len(actions) >= 4


def test_the_async_client_opens_updates_and_disables(live: Live) -> None:
    async def scenario() -> None:
        async with AsyncClient(live.base, live.admin_key, retry=FAST) as bp:
            opened = await bp.accounts.open(group=live.group, leverage=50, name="Async Ada")
            assert await bp.accounts.get(opened.login) == opened
            updated = await bp.accounts.update(opened.login, name="Async Ada L.")
            assert updated.name == "Async Ada L."
            assert not (await bp.accounts.disable(opened.login)).enabled
            assert (await bp.accounts.enable(opened.login)).enabled

    asyncio.run(scenario())


# ---- money and idempotency ------------------------------------------------------------------


def test_a_deposit_repeated_with_its_key_applies_once(bp: Client, live: Live) -> None:
    login = _open(bp, live).login
    key = f"crm-pay-{_unique()}"
    first = bp.money.deposit(login, "125.50", reference="pay-1", idempotency_key=key)
    again = bp.money.deposit(login, "125.50", reference="pay-1", idempotency_key=key)
    assert first.applied and again == first
    assert bp.accounts.get(login).balance == Decimal("125.50")

    with pytest.raises(AlreadyApplied) as refused:  # the key is the request's, not any request's
        bp.money.deposit(login, "999.00", reference="pay-1", idempotency_key=key)
    assert refused.value.status == 409 and refused.value.code == "request.already_applied"
    assert bp.accounts.get(login).balance == Decimal("125.50")

    # Without a key of yours each call is its own operation, with a key of its own.
    bp.money.deposit(login, Decimal("1.25"))
    bp.money.deposit(login, 2)
    entries = list(bp.money.history(login=login))
    assert [e.amount for e in entries] == [Decimal("125.50"), Decimal("1.25"), Decimal("2.00")]
    assert len({e.request_id for e in entries}) == 3
    assert {e.operator_id for e in entries} == {"crm-test"}  # x-operator-id, in the ledger


def test_every_money_operation_moves_its_figure(bp: Client, live: Live) -> None:
    login = _open(bp, live).login
    bp.money.deposit(login, "100.00")
    bp.money.withdraw(login, "30.00")
    bp.money.credit(login, "50")
    bp.money.bonus(login, "5.5")
    bp.money.correction(login, "-0.50")
    last = bp.money.charge(login, "1.00")
    assert (last.balance, last.credit, last.bonus) == (
        Decimal("68.50"),
        Decimal("50.00"),
        Decimal("5.50"),
    )
    kinds = [e.kind for e in bp.money.history(login=login)]
    assert kinds == ["deposit", "withdrawal", "credit_in", "bonus_in", "correction", "charge"]


def test_a_transfer_moves_both_legs_once_per_key(bp: Client, live: Live) -> None:
    source, target = _open(bp, live).login, _open(bp, live).login
    bp.money.deposit(source, "100.00")
    key = f"crm-move-{_unique()}"
    moved = bp.money.transfer(source, target, "40.00", reference="move-1", idempotency_key=key)
    again = bp.money.transfer(source, target, "40.00", reference="move-1", idempotency_key=key)
    assert again == moved and moved.status == "applied" and moved.amount == Decimal("40.00")
    assert (moved.source.login, moved.source.balance) == (source, Decimal("60.00"))
    assert (moved.target.login, moved.target.balance) == (target, Decimal("40.00"))
    assert moved.source.reference == moved.target.reference == "transfer:move-1"
    assert bp.accounts.get(source).balance == Decimal("60.00")
    bp.accounts.update(target, main_password="Tr4nsfer-main!", investor_password="Tr4nsfer-inv!")
    with pytest.raises(ValidationError):  # more than the source holds: nothing moves
        bp.money.transfer(source, target, "60.01")
    assert bp.accounts.get(target).balance == Decimal("40.00")


class _DropOnce:
    """Drops the first answer to a deposit (after the server applied it)."""

    def __init__(self) -> None:
        self.dropped = 0

    def __call__(self, seen: Seen) -> bool:
        if seen.path.endswith("/balances/deposit") and self.dropped == 0:
            self.dropped += 1
            return True
        return False


def test_a_deposit_whose_answer_is_lost_is_retried_with_its_key_and_applied_once(
    bp: Client, live: Live
) -> None:
    login = _open(bp, live).login
    with (
        DroppingProxy(live.base, _DropOnce()) as proxy,
        Client(proxy.base, live.admin_key, retry=FAST) as through,
    ):
        op = through.money.deposit(login, "40.00", reference="lost-answer")
    deposits = [s for s in proxy.seen if s.path.endswith("/balances/deposit")]
    assert [(s.answer_status, s.dropped) for s in deposits] == [(200, True), (200, False)]
    keys = {s.headers["idempotency-key"] for s in deposits}
    assert len(keys) == 1  # the retry sent the same key...
    assert deposits[1].answer_headers.get("idempotent-replay") == "true"  # ...and got the replay
    assert op.applied and op.balance == Decimal("40.00")
    assert [e.amount for e in bp.money.history(login=login)] == [Decimal("40.00")]


def test_without_retries_a_lost_answer_is_a_transport_error_and_its_key_settles_it(
    bp: Client, live: Live
) -> None:
    login = _open(bp, live).login
    with (
        DroppingProxy(live.base, _DropOnce()) as proxy,
        Client(proxy.base, live.admin_key, retry=Retry(attempts=1)) as through,
    ):
        with pytest.raises(TransportError) as lost:
            through.money.deposit(login, "10.00")
        assert "/balances/deposit" in str(lost.value)
        key = lost.value.idempotency_key  # the key the client made for that call
        assert key is not None and key == proxy.seen[-1].headers["idempotency-key"]
        # The server did apply it: the same call with that key gets that answer.
        settled = through.money.deposit(login, "10.00", idempotency_key=key)
    assert settled.balance == Decimal("10.00")
    assert len(list(bp.money.history(login=login))) == 1


def test_the_async_client_retries_a_lost_deposit_answer_with_the_same_key(live: Live) -> None:
    async def scenario(base: str, login: int) -> None:
        async with AsyncClient(base, live.admin_key, retry=FAST) as bp:
            op = await bp.money.deposit(login, "7.77", reference="async-lost")
            assert op.balance == Decimal("7.77")
            key = f"crm-async-{_unique()}"
            first = await bp.money.deposit(login, "1.00", idempotency_key=key)
            assert await bp.money.deposit(login, "1.00", idempotency_key=key) == first
            with pytest.raises(AlreadyApplied):
                await bp.money.deposit(login, "2.00", idempotency_key=key)

    with Client(live.base, live.admin_key) as bp:
        login = _open(bp, live).login
        with DroppingProxy(live.base, _DropOnce()) as proxy:
            asyncio.run(scenario(proxy.base, login))
        amounts = [e.amount for e in bp.money.history(login=login)]
        assert amounts == [Decimal("7.77"), Decimal("1.00")]
    deposits = [s for s in proxy.seen if s.path.endswith("/balances/deposit")]
    assert len(deposits) == 5 and deposits[0].dropped and not deposits[1].dropped
    assert deposits[0].headers["idempotency-key"] == deposits[1].headers["idempotency-key"]


# ---- pages and exports ----------------------------------------------------------------------


class _Counting(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return super().handle_request(request)


def test_listing_walks_every_page_as_it_is_iterated(live: Live) -> None:
    counting = _Counting()
    with Client(live.base, live.admin_key, transport=counting) as bp:
        logins = [_open(bp, live).login for _ in range(7)]
        counting.paths.clear()
        listed = bp.accounts.list(logins=logins, page_size=3)
        first = next(listed)
        assert counting.paths == ["/v1/users"]  # one page fetched, not all of them
        rest = list(listed)
        assert [first.login, *(a.login for a in rest)] == sorted(logins)
        # 3 + 3 + 1: the third page is short, so it is the last
        assert counting.paths == ["/v1/users"] * 3
        inventory = list(bp.reports.accounts(logins=logins, page_size=2))
        assert [a.login for a in inventory] == sorted(logins)

        for login in logins[:5]:
            bp.money.deposit(login, "1.00")
        entries = list(bp.money.history(kinds=["deposit"], page_size=2))
        assert {e.login for e in entries} >= set(logins[:5])


def test_the_async_client_pages(live: Live) -> None:
    async def scenario() -> list[int]:
        async with AsyncClient(live.base, live.admin_key) as bp:
            logins = [
                (await bp.accounts.open(group=live.group, leverage=100, name="P")).login
                for _ in range(5)
            ]
            listed = [a.login async for a in bp.accounts.list(logins=logins, page_size=2)]
            assert listed == sorted(logins)
            return logins

    assert len(asyncio.run(scenario())) == 5


def test_a_streamed_export_gives_rows_as_the_csv_has_them(bp: Client, live: Live) -> None:
    tricky = 'line one\nline two, "quoted"; =SUM(A1)'
    accounts = [
        _open(bp, live, comment=tricky if i == 0 else "plain", city="Zürich") for i in range(3)
    ]
    logins = [a.login for a in accounts]
    with bp.reports.accounts_csv(logins=logins) as export:
        rows = list(export)
        header = export.header
    assert header is not None and header[:3] == ["login", "group", "name"]
    assert [int(r["login"]) for r in rows] == sorted(logins)
    assert rows[0]["city"] == "Zürich"
    assert "line one\nline two" in rows[0]["comment"]  # a quoted newline stays in its cell
    assert rows[0]["comment"].endswith("=SUM(A1)")  # after the server's formula guard

    bp.money.deposit(logins[0], "10.00", comment="first")
    bp.money.withdraw(logins[0], "2.50", comment="second")
    with bp.reports.ledger_csv(login=logins[0]) as export:
        raw = b"".join(export.iter_bytes())
    assert raw.startswith(b"operation_id,time,login,kind,amount")
    with bp.reports.ledger_csv(login=logins[0]) as export:
        assert [(r[3], r[4]) for r in export.rows()] == [
            ("deposit", "10.00"),
            ("withdrawal", "-2.50"),
        ]


def test_the_async_client_streams_an_export(live: Live) -> None:
    async def scenario() -> None:
        async with AsyncClient(live.base, live.admin_key) as bp:
            opened = await bp.accounts.open(group=live.group, leverage=100, name="Streamed")
            await bp.money.deposit(opened.login, "3.00")
            async with bp.reports.ledger_csv(login=opened.login) as export:
                rows = [row async for row in export]
            assert [(r["login"], r["amount"]) for r in rows] == [(str(opened.login), "3.00")]

    asyncio.run(scenario())


# ---- errors ---------------------------------------------------------------------------------


def test_errors_are_exceptions_carrying_the_problem_document(bp: Client, live: Live) -> None:
    with pytest.raises(NotFound) as missing:
        bp.accounts.get(987654321)
    problem = missing.value.problem
    assert (problem.status, problem.title, problem.code) == (404, "NotFound", "account.not_found")
    assert problem.type == "https://brokerplane.dev/problems/account.not_found"
    assert "987654321" in problem.detail and problem.request_id

    login = _open(bp, live).login
    with pytest.raises(ValidationError) as bad:
        bp.money.deposit(login, "12.345")
    assert bad.value.status == 400 and bad.value.errors[0]["field"] == "amount"

    with pytest.raises(ValidationError) as short:
        bp.money.withdraw(login, "1.00")
    assert short.value.code == "ledger.insufficient_funds"

    with pytest.raises(Conflict) as taken:
        bp.accounts.open(login=login, group=live.group, leverage=100, name="Twin")
    assert taken.value.code == "account.login_exists"

    with Client(live.base, live.approver_key) as approver, pytest.raises(PermissionDenied) as no:
        approver.accounts.open(group=live.group, leverage=100, name="Not allowed")
    assert no.value.status == 403

    with Client(live.base, "bpk_000000000000_nope") as stranger, pytest.raises(Unauthorized):
        stranger.accounts.get(login)

    with pytest.raises(TypeError):
        bp.money.deposit(login, 0.1)  # type: ignore[arg-type]  # a float is not money
    with pytest.raises(ValueError, match="page_size is 1 to 1000"):
        bp.accounts.list(page_size=5000)  # said at the call, not at the first page


def test_the_async_client_raises_the_same_exceptions(live: Live) -> None:
    async def scenario() -> None:
        async with AsyncClient(live.base, live.admin_key) as bp:
            with pytest.raises(NotFound) as missing:
                await bp.accounts.get(987654322)
            assert missing.value.code == "account.not_found"
            with pytest.raises(ValidationError) as bad:
                await bp.accounts.open(group=live.group, leverage=100, name="X", email="x" * 300)
            assert bad.value.errors

    asyncio.run(scenario())


# ---- approvals ------------------------------------------------------------------------------


def test_a_held_deposit_is_approved_by_another_manager(bp: Client, live: Live) -> None:
    login = _open(bp, live).login
    held = bp.money.deposit(login, "25000.00", reference="wire-big")
    assert held.pending and held.operation_id is None and held.approval_id is not None
    assert bp.accounts.get(login).balance == Decimal("0.00")  # nothing moved yet

    with pytest.raises(PendingApproval) as waiting:
        bp.money.deposit(login, "15000.00", require_applied=True)
    assert waiting.value.operation.pending

    with Client(live.base, live.approver_key, retry=FAST) as approver:
        pending = [a.id for a in approver.approvals.list(state="pending", login=login)]
        assert pending == [held.approval_id, waiting.value.approval_id]

        with pytest.raises(PermissionDenied):  # the requester cannot approve its own request
            bp.approvals.approve(held.approval_id)

        approved = approver.approvals.approve(held.approval_id, "checked the wire")
        assert approved.state == "approved" and approved.decision_comment == "checked the wire"
        assert approved.operation is not None and approved.operation.applied
        assert approved.operation.balance == Decimal("25000.00")

        assert waiting.value.approval_id is not None
        rejected = approver.approvals.reject(waiting.value.approval_id, "no documents")
        assert rejected.state == "rejected" and rejected.operation is None

        with pytest.raises(Conflict) as again:
            approver.approvals.approve(held.approval_id)
        assert again.value.code == "approval.not_pending"
        assert approver.approvals.get(held.approval_id).state == "approved"
    assert bp.accounts.get(login).balance == Decimal("25000.00")
    assert any(t.currency == "USD" for t in bp.approvals.thresholds())


def test_the_async_client_approves(live: Live) -> None:
    async def scenario() -> None:
        async with (
            AsyncClient(live.base, live.admin_key) as bp,
            AsyncClient(live.base, live.approver_key) as approver,
        ):
            login = (await bp.accounts.open(group=live.group, leverage=100, name="A")).login
            held = await bp.money.deposit(login, "10000.01")
            assert held.pending and held.approval_id is not None
            done = await approver.approvals.approve(held.approval_id)
            assert done.operation is not None and done.operation.balance == Decimal("10000.01")
            pending = [a async for a in approver.approvals.list(state="pending", login=login)]
            assert pending == []

    asyncio.run(scenario())


# ---- keys -----------------------------------------------------------------------------------


def test_keys_are_created_used_rotated_and_revoked(bp: Client, live: Live) -> None:
    name = f"crm-reader-{_unique()}"
    issued = bp.keys.create(["users:read"], name=name)
    assert issued.key and issued.scopes == ["users:read"] and issued.name == name
    listed = {k.id: k for k in bp.keys.list()}
    assert listed[issued.id].state == "active" and listed[issued.id].prefix == issued.prefix

    login = _open(bp, live).login
    assert issued.key is not None
    with Client(live.base, issued.key) as reader:
        assert reader.accounts.get(login).login == login
        with pytest.raises(PermissionDenied):
            reader.money.deposit(login, "1.00")

    rotated = bp.keys.rotate(issued.id)
    assert rotated.key and rotated.key != issued.key
    assert rotated.previous is not None and rotated.previous["id"] == issued.id
    assert rotated.key is not None
    with Client(live.base, rotated.key) as reader:
        assert reader.accounts.get(login).login == login

    revoked = bp.keys.revoke(rotated.id)
    assert revoked.state == "revoked"
    with Client(live.base, rotated.key) as reader, pytest.raises(Unauthorized):
        reader.accounts.get(login)


class _DropFirstKey:
    def __init__(self) -> None:
        self.dropped = False

    def __call__(self, seen: Seen) -> bool:
        if seen.method == "POST" and seen.path == "/v1/keys" and not self.dropped:
            self.dropped = True
            return True
        return False


def test_a_new_keys_lost_secret_is_reported_with_the_key_to_revoke(bp: Client, live: Live) -> None:
    with (
        DroppingProxy(live.base, _DropFirstKey()) as proxy,
        Client(proxy.base, live.admin_key, retry=FAST) as through,
        pytest.raises(SecretNotReturned) as lost,
    ):
        through.keys.create(["users:read"], name="lost in transit")
    made = [s for s in proxy.seen if s.path == "/v1/keys"]
    assert [s.answer_status for s in made] == [201, 201] and made[1].answer_headers.get(
        "idempotent-replay"
    ) == "true"
    issued = lost.value.issued
    assert issued.key is None and issued.name == "lost in transit"
    assert {k.id: k.state for k in bp.keys.list()}[issued.id] == "active"  # one key, made once
    assert bp.keys.revoke(issued.id).state == "revoked"


def test_the_async_client_manages_keys(live: Live) -> None:
    async def scenario() -> None:
        async with AsyncClient(live.base, live.admin_key) as bp:
            issued = await bp.keys.create(["reports:read"], name="async")
            assert issued.id in {k.id for k in await bp.keys.list()}
            assert (await bp.keys.revoke(issued.id)).state == "revoked"

    asyncio.run(scenario())
