"""The client against a server that lies: endless or oversized answers, bodies that are not
JSON, the wrong shapes, compressed bombs, pages that loop, CSV that never ends a record. Each
must end in the client's own clear exception, having read a bounded number of bytes."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import time
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal

import pytest

from brokerplane.client import (
    APIError,
    AsyncClient,
    Client,
    InvalidResponse,
    Limits,
    NotFound,
    RateLimited,
    ResponseTooLarge,
    Retry,
    ServerError,
    ServiceUnavailable,
    TransportError,
)
from tests.client.conftest import FAST
from tests.client.wire import ScriptedServer, Seen, head, whole

SMALL = Limits(max_response_bytes=64 * 1024, max_error_bytes=4096, max_csv_record_bytes=8192)
MIB = 1024 * 1024

ACCOUNT = {
    "login": 910024,
    "group": "demo-usd",
    "name": "A",
    "enabled": True,
    "leverage": 100,
    "currency": "USD",
    "balance": "10.00",
    "credit": "0.00",
    "bonus": "0.00",
    "rights": 3,
    "access_rights": "FULL_ACCESS",
    "account_type": "HEDGED",
    "first_name": "",
    "last_name": "",
    "middle_name": "",
    "email": "",
    "phone": "",
    "country": "",
    "city": "",
    "state": "",
    "zip_code": "",
    "address": "",
    "company": "",
    "comment": "",
    "lead_source": "",
    "lead_campaign": "",
    "agent": 0,
    "status": "",
    "id_document": "",
    "language": 0,
    "color": 0,
    "mqid": "",
    "bank_account": "",
    "broker": "",
    "description": "",
    "attributes": {},
    "user_id": None,
    "disabled_reason": "",
    "disabled_at": None,
    "registered_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
    "last_access": None,
    "last_pass_change": None,
}


def _endless(piece: bytes) -> Iterator[bytes]:
    while True:
        yield piece


def _client(server: ScriptedServer, **kwargs: object) -> Client:
    options: dict[str, object] = {"retry": FAST, "limits": SMALL, "timeout": 10.0, **kwargs}
    return Client(server.base, "bpk_test", **options)  # type: ignore[arg-type]


def test_an_answer_declaring_more_than_the_limit_is_refused_before_it_is_read() -> None:
    def script(_: Seen) -> Iterator[bytes]:
        yield head(200, "content-type: application/json", f"content-length: {10**12}")
        yield from _endless(b"[" * 65536)

    with (
        ScriptedServer(script) as server,
        _client(server) as bp,
        pytest.raises(ResponseTooLarge, match="declares 1000000000000 bytes"),
    ):
        bp.accounts.get(910024)
    assert len(server.seen) == 1  # not retried: the same server would say it again


def test_an_endless_chunked_answer_is_cut_at_the_limit() -> None:
    def script(_: Seen) -> Iterator[bytes]:
        yield head(200, "content-type: application/json", "transfer-encoding: chunked")
        chunk = b" " * 16384
        yield from _endless(b"%x\r\n%s\r\n" % (len(chunk), chunk))

    with (
        ScriptedServer(script) as server,
        _client(server) as bp,
        pytest.raises(ResponseTooLarge, match="limit of 65536 bytes"),
    ):
        bp.accounts.get(910024)
    assert server.sent < 8 * MIB  # the client hung up long before the socket buffers filled up


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<html>hello</html>", "not JSON"),
        (b'{"login": 910024', "not JSON"),
        (b"[" * 30000 + b"]" * 30000, "not JSON"),  # deep enough to exhaust a recursive parser
        (json.dumps({**ACCOUNT, "balance": "NaN"}).encode(), "balance"),
        (b'{"balance": NaN}', "not JSON"),
        (json.dumps({**ACCOUNT, "login": "x"}).encode(), "login"),
        (json.dumps({k: v for k, v in ACCOUNT.items() if k != "group"}).encode(), "group"),
        (b'"just a string"', "not a Account"),
        (b"\xff\xfe\x00garbage", "not JSON"),
    ],
    ids=["html", "cut", "deep", "nan-money", "nan", "wrong-type", "missing", "string", "bytes"],
)
def test_an_answer_that_is_not_the_model_is_an_invalid_response(body: bytes, says: str) -> None:
    with (
        ScriptedServer(lambda _: iter([whole(200, body)])) as server,
        _client(server) as bp,
        pytest.raises(InvalidResponse, match=says) as bad,
    ):
        bp.accounts.get(910024)
    assert not isinstance(bad.value, ResponseTooLarge)


def test_an_honest_answer_through_the_same_server_is_read() -> None:
    body = json.dumps(ACCOUNT).encode()
    with ScriptedServer(lambda _: iter([whole(200, body)])) as server, _client(server) as bp:
        account = bp.accounts.get(910024)
    assert account.balance == Decimal("10.00")
    assert server.seen[0].headers["accept-encoding"] == "identity"
    assert server.seen[0].headers["authorization"] == "Bearer bpk_test"


def test_a_compressed_answer_nobody_asked_for_is_refused_unread() -> None:
    bomb = gzip.compress(b" " * (50 * MIB))  # 50 MiB of JSON whitespace in ~50 KiB

    def script(_: Seen) -> Iterator[bytes]:
        yield whole(200, bomb, "application/json", "content-encoding: gzip")

    with (
        ScriptedServer(script) as server,
        _client(server) as bp,
        pytest.raises(InvalidResponse, match="'gzip'-encoded"),
    ):
        bp.accounts.get(910024)


def test_an_error_page_that_is_not_a_problem_document_still_raises_by_status() -> None:
    page = b"<html><body>" + b"Bad gateway " * 100000 + b"</body></html>"  # 1.2 MB of HTML
    with (
        ScriptedServer(lambda _: iter([whole(502, page, "text/html")])) as server,
        _client(server) as bp,
        pytest.raises(ServerError) as failed,
    ):
        bp.accounts.get(910024)
    assert len(server.seen) == FAST.attempts  # 5xx on a read: retried, then given up
    problem = failed.value.problem
    assert (problem.status, problem.code, problem.type) == (502, "http.502", "about:blank")
    assert "without a problem document" in problem.detail and "<html>" in problem.detail
    assert len(problem.detail) < 400  # a snippet, not the page


def test_a_huge_problem_document_is_read_only_up_to_the_error_limit() -> None:
    problem = {
        "type": "t",
        "title": "NotFound",
        "status": 404,
        "detail": "x" * (10 * MIB),
        "code": "account.not_found",
    }
    body = json.dumps(problem).encode()
    with (
        ScriptedServer(lambda _: iter([whole(404, body, "application/problem+json")])) as server,
        _client(server) as bp,
        pytest.raises(NotFound) as missing,
    ):
        bp.accounts.get(910024)
    assert missing.value.code == "http.404"  # truncated: no longer a document, still a 404
    assert server.sent < 8 * MIB + len(body) and len(server.seen) == 1


def test_retry_after_is_honoured_up_to_the_clients_cap_then_the_answer_is_used() -> None:
    answers = iter(
        [
            whole(
                429,
                b'{"type":"t","title":"TooManyRequests","status":429,"detail":"slow down",'
                b'"code":"auth.rate_limited"}',
                "application/problem+json",
                "retry-after: 86400",
            ),
            whole(200, json.dumps(ACCOUNT).encode()),
        ]
    )
    with ScriptedServer(lambda _: iter([next(answers)])) as server, _client(server) as bp:
        assert bp.accounts.get(910024).login == 910024  # a day's Retry-After capped at 0 s
    assert len(server.seen) == 2

    limited = whole(
        429,
        b'{"type":"t","title":"TooManyRequests","status":429,"detail":"d",'
        b'"code":"auth.rate_limited"}',
        "application/problem+json",
        "retry-after: 7",
    )
    with (
        ScriptedServer(lambda _: iter([limited])) as server,
        _client(server) as bp,
        pytest.raises(RateLimited) as slow,
    ):
        bp.accounts.get(910024)
    assert slow.value.retry_after == 7.0 and len(server.seen) == FAST.attempts


def test_a_503_on_a_write_is_retried_with_the_same_idempotency_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = whole(
        503,
        b'{"type":"t","title":"ManagerOffline","status":503,"detail":"db",'
        b'"code":"storage.unavailable"}',
        "application/problem+json",
    )
    caplog.set_level(logging.INFO, logger="brokerplane.client")
    with (
        ScriptedServer(lambda _: iter([down])) as server,
        _client(server) as bp,
        pytest.raises(ServiceUnavailable) as failed,
    ):
        bp.money.deposit(910024, "10.00")
    keys = [s.headers["idempotency-key"] for s in server.seen]
    assert len(keys) == FAST.attempts and len(set(keys)) == 1
    assert failed.value.idempotency_key == keys[0]  # to send it again later, safely
    assert [json.loads(s.body)["amount"] for s in server.seen] == ["10.00"] * FAST.attempts
    retries = [r.getMessage() for r in caplog.records if r.name == "brokerplane.client"]
    assert retries[0] == (
        f"POST /balances/deposit: 503; attempt 2 of 4 in 0.00 s with the same Idempotency-Key "
        f"{keys[0]}"
    )
    assert len(retries) == FAST.attempts - 1
    assert "bpk_test" not in caplog.text


def test_a_server_that_hangs_up_is_a_transport_error_after_the_retries() -> None:
    with (
        ScriptedServer(lambda _: iter([])) as server,
        _client(server) as bp,
        pytest.raises(TransportError) as gone,
    ):
        bp.money.deposit(910024, "1.00")
    assert gone.value.attempts == FAST.attempts and "after 4 attempts" in str(gone.value)
    assert len({s.headers["idempotency-key"] for s in server.seen}) == 1


def test_a_server_that_answers_nothing_times_out_into_a_transport_error() -> None:
    def script(_: Seen) -> Iterator[bytes]:
        yield head(200, "content-type: application/json", "content-length: 100")
        time.sleep(2)  # the body never comes within the client's read timeout

    with (
        ScriptedServer(script) as server,
        _client(server, timeout=0.2, retry=Retry(attempts=2, backoff=0)) as bp,
        pytest.raises(TransportError, match="ReadTimeout"),
    ):
        bp.accounts.get(910024)
    assert len(server.seen) == 2


def test_a_page_cursor_that_repeats_is_refused_instead_of_looping() -> None:
    page = json.dumps({"items": [ACCOUNT], "next_cursor": "bG9naW46MQ"}).encode()
    with (
        ScriptedServer(lambda _: iter([whole(200, page)])) as server,
        _client(server) as bp,
        pytest.raises(InvalidResponse, match="cursor 'bG9naW46MQ' twice"),
    ):
        list(bp.accounts.list())
    assert len(server.seen) == 2


# ---- CSV ------------------------------------------------------------------------------------


def _csv(*pieces: bytes, chunked: bool = True) -> Iterator[bytes]:
    yield head(200, "content-type: text/csv; charset=utf-8", "transfer-encoding: chunked")
    for piece in pieces:
        yield b"%x\r\n%s\r\n" % (len(piece), piece)
    yield b"0\r\n\r\n"


def test_a_csv_record_that_never_ends_is_refused_at_the_record_limit() -> None:
    def script(_: Seen) -> Iterator[bytes]:
        yield head(200, "content-type: text/csv", "transfer-encoding: chunked")
        yield b"4\r\na,b\n\r\n"
        piece = b'x"' * 4096  # a quote opened and never closed: one record, forever
        yield from _endless(b"%x\r\n%s\r\n" % (len(piece), piece))

    with (
        ScriptedServer(script) as server,
        _client(server) as bp,
        bp.reports.accounts_csv() as export,
        pytest.raises(ResponseTooLarge),
    ):
        list(export)
    assert server.sent < 8 * MIB


def test_a_long_export_streams_in_bounded_memory() -> None:
    row = b"910024,demo-usd,Alice Smith,alice@example.com,%s,10.00\n" % (b"c" * 150)
    rows = 50_000  # about 10 MB of CSV

    def script(_: Seen) -> Iterator[bytes]:
        yield head(200, "content-type: text/csv", "transfer-encoding: chunked")
        header = b"login,group,name,email,comment,balance\n"
        yield b"%x\r\n%s\r\n" % (len(header), header)
        block = row * 1000
        for _block in range(rows // 1000):
            yield b"%x\r\n%s\r\n" % (len(block), block)
        yield b"0\r\n\r\n"

    with ScriptedServer(script) as server, _client(server) as bp:
        tracemalloc.start()
        try:
            count = 0
            with bp.reports.accounts_csv() as export:
                for record in export:
                    count += 1
                    assert record["balance"] == "10.00"
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert count == rows
    assert server.sent > 10_000_000
    assert peak < 2 * MIB  # a few chunks and one record, never the export


@pytest.mark.parametrize(
    ("pieces", "says"),
    [
        ((b"a,b\n1,\xff\n",), "not UTF-8"),
        ((b'a,b\n1,"open\n',), "ends inside a quoted field"),
        ((b"a,b\n1,2,3\n",), "3 cells, the header 2"),
        ((b'a,b\n1,"x"y\n',), "malformed"),
    ],
    ids=["utf8", "open-quote", "width", "stray-quote"],
)
def test_a_malformed_export_is_an_invalid_response(pieces: tuple[bytes, ...], says: str) -> None:
    with (
        ScriptedServer(lambda _: _csv(*pieces)) as server,
        _client(server) as bp,
        bp.reports.accounts_csv() as export,
        pytest.raises(InvalidResponse, match=says),
    ):
        list(export)


def test_a_csv_split_anywhere_is_read_the_same() -> None:
    text = 'a,b\n1,"multi\nline, ""quoted"""\n2,ü\n'.encode()
    pieces = tuple(text[i : i + 1] for i in range(len(text)))  # one byte at a time
    with (
        ScriptedServer(lambda _: _csv(*pieces)) as server,
        _client(server) as bp,
        bp.reports.accounts_csv() as export,
    ):
        assert list(export) == [{"a": "1", "b": 'multi\nline, "quoted"'}, {"a": "2", "b": "ü"}]


def test_an_export_answered_as_json_is_refused() -> None:
    body = json.dumps({"items": [], "next_cursor": None}).encode()
    with (
        ScriptedServer(lambda _: iter([whole(200, body)])) as server,
        _client(server) as bp,
        pytest.raises(InvalidResponse, match="'application/json'"),
    ):
        bp.reports.accounts_csv().__enter__()


# ---- async ----------------------------------------------------------------------------------


def test_the_async_client_bounds_and_refuses_the_same_way() -> None:
    def endless(_: Seen) -> Iterator[bytes]:
        yield head(200, "content-type: application/json", "transfer-encoding: chunked")
        yield from _endless(b"4000\r\n" + b" " * 0x4000 + b"\r\n")

    async def scenario(endless_base: str, bad_base: str, csv_base: str) -> None:
        async with AsyncClient(endless_base, "k", retry=FAST, limits=SMALL) as bp:
            with pytest.raises(ResponseTooLarge):
                await bp.accounts.get(1)
        async with AsyncClient(bad_base, "k", retry=FAST, limits=SMALL) as bp:
            with pytest.raises(InvalidResponse, match="not JSON"):
                await bp.accounts.get(1)
        async with (
            AsyncClient(csv_base, "k", retry=FAST, limits=SMALL) as bp,
            bp.reports.accounts_csv() as export,
        ):
            with pytest.raises(ResponseTooLarge):
                [row async for row in export]

    def never_ending_record(_: Seen) -> Iterator[bytes]:
        yield head(200, "content-type: text/csv", "transfer-encoding: chunked")
        yield from _endless(b"1000\r\n" + b"y" * 0x1000 + b"\r\n")

    with (
        ScriptedServer(endless) as a,
        ScriptedServer(lambda _: iter([whole(200, b"{oops")])) as b,
        ScriptedServer(never_ending_record) as c,
    ):
        asyncio.run(scenario(a.base, b.base, c.base))
    assert a.sent < 8 * MIB and c.sent < 8 * MIB


def test_a_problem_document_is_read_for_what_it_has_and_classed_by_the_http_status() -> None:
    # A plain RFC 9457 document (no brokerplane members) whose status member lies.
    doc = b'{"type":"https://example.com/down","title":"Down","status":200,"detail":"maintenance"}'
    answer = whole(503, doc, "application/problem+json", "retry-after: 120")
    with (
        ScriptedServer(lambda _: iter([answer])) as server,
        _client(server, retry=Retry(attempts=1)) as bp,
        pytest.raises(ServiceUnavailable) as down,
    ):
        bp.accounts.get(1)
    error = down.value
    assert (error.status, error.title, error.detail) == (503, "Down", "maintenance")
    assert (error.code, error.retry_after) == ("http.503", 120.0)
    assert "503 Down (http.503): maintenance" in str(error)


def test_a_redirect_is_not_followed_so_the_key_stays_with_the_server() -> None:
    body = json.dumps(ACCOUNT).encode()
    with ScriptedServer(lambda _: iter([whole(200, body)])) as elsewhere:
        moved = head(307, f"location: {elsewhere.base}/v1/users/910024", "content-length: 0")
        with (
            ScriptedServer(lambda _: iter([moved])) as server,
            _client(server) as bp,
            pytest.raises(APIError) as answered,
        ):
            bp.accounts.get(910024)
        assert elsewhere.seen == []  # the Authorization header never went there
    assert answered.value.status == 307 and answered.value.code == "http.307"
