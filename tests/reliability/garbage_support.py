"""What the garbage tests share: hypothesis sizes, garbage strategies, a status tally with its
one-line summary, and the books (ledger and audit) checked before and after the garbage.

Small by default so `make test` stays fast (derandomized: the same examples every run); large
and random when BROKERPLANE_SOAK=1.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from brokerplane.bootstrap import Runtime
from brokerplane.core.account.commands import ListAccounts
from brokerplane.core.actor import Actor
from brokerplane.core.ledger.model import LedgerQuery
from brokerplane.settings import Settings

SOAK = os.environ.get("BROKERPLANE_SOAK", "").strip().lower() in ("1", "true", "yes", "on")

# Every example is a real request through the app and the database: slow by hypothesis'
# measure, hence too_slow suppressed; no example database, the runs leave nothing behind.
settings.register_profile(
    "garbage-small",
    max_examples=12,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "garbage-soak",
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
GARBAGE = settings.get_profile("garbage-soak" if SOAK else "garbage-small")


def garbage_settings(scale: float = 1.0, suppress: tuple[HealthCheck, ...] = ()) -> settings:
    """The profile, with `scale` times its examples (at least 1) and more checks suppressed."""
    examples = max(1, int(GARBAGE.max_examples * scale))
    suppressed = [*GARBAGE.suppress_health_check, *suppress]
    return settings(GARBAGE, max_examples=examples, suppress_health_check=suppressed)


# ---- strategies ------------------------------------------------------------------------------

# Any text a client can send (lone surrogates cannot be encoded, so they cannot be sent).
TEXT = st.text(st.characters(codec="utf-8"), max_size=24)
# Header values must be latin-1 and free of line breaks.
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
TRICKY = st.sampled_from(
    [
        "",
        " ",
        "0",
        "-1",
        "1",
        "00",
        "1e309",
        "-1e309",
        "NaN",
        "Infinity",
        "0.005",
        "1,5",
        "99999999999999999999999999",
        "-0",
        "true",
        "null",
        "[]",
        "{}",
        "\x00",
        "%00",
        "\\|=",
        "💸",
        "1;DROP TABLE accounts",
        "../../etc/passwd",
        "<x>&amp;</x>",
        "2024-02-30",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | TEXT
    | TRICKY
    | st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=10,
)
# Raw bodies: broken JSON, deep nesting, bytes that are not UTF-8, forms.
RAW_BODIES = (
    st.binary(max_size=64)
    | TEXT.map(str.encode)
    | st.sampled_from(
        [
            b"{",
            b"[" * 5000,
            b'{"a": 1,}',
            b"\xff\xfe",
            b"null",
            b"[]",
            b"1e999999",
            b'"\\ud800"',
            b"login=1&amount=",
            b"%zz=%",
            b'{"login": 1e400}',
            b"\x00" * 8,
        ]
    )
)


def fields(names: list[str], good: list[Any] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """Objects mixing the dialect's own names with noise, and sensible values with garbage."""
    values = JSON_VALUES if not good else st.sampled_from(good) | JSON_VALUES
    return st.dictionaries(st.sampled_from(names) | TEXT, values, max_size=8)


def query_params(names: list[str], good: list[Any] | None = None) -> st.SearchStrategy[Any]:
    """Query strings: pairs of names and texts (sensible values among them)."""
    text = TEXT | TRICKY if not good else st.sampled_from([str(g) for g in good]) | TEXT | TRICKY
    pair = st.tuples(st.sampled_from(names) | TEXT, text)
    return st.lists(pair, max_size=6)


@dataclass(frozen=True)
class Body:
    """A request body as sent: raw bytes and the content type claimed for them."""

    content: bytes
    content_type: str | None

    def headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type} if self.content_type else {}


def _json_bytes(value: Any) -> bytes:
    # allow_nan: NaN and Infinity reach the server as the invalid JSON they are.
    return json.dumps(value, allow_nan=True, default=str).encode()


def bodies(names: list[str], good: list[Any] | None = None) -> st.SearchStrategy[Body]:
    """JSON objects of the dialect's names, any JSON, raw bytes and forms, under any claimed
    content type."""
    kinds = st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "text/plain",
            "application/xml",
            None,
        ]
    )
    as_json = st.builds(Body, fields(names, good).map(_json_bytes), kinds)
    any_json = st.builds(Body, JSON_VALUES.map(_json_bytes), kinds)
    form = st.builds(
        Body,
        query_params(names, good).map(lambda pairs: str(httpx.QueryParams(pairs)).encode()),
        kinds,
    )
    raw = st.builds(Body, RAW_BODIES, kinds)
    return as_json | any_json | form | raw


# ---- counting and reporting --------------------------------------------------------------------


@dataclass
class Tally:
    """Requests sent by one test, by status; the 5xx answers kept for the failure message."""

    name: str
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    # (method, path, acknowledged) of every request
    calls: list[tuple[str, str, bool]] = field(default_factory=list)

    def count(
        self,
        method: str,
        path: str,
        status: int,
        acknowledged: bool | None = None,
        detail: str = "",
    ) -> None:
        """Count one answer; `acknowledged` defaults to "the status is 2xx"."""
        self.statuses[status] += 1
        ok = 200 <= status < 300 if acknowledged is None else acknowledged
        self.calls.append((method, path, ok))
        if status >= 500:
            self.server_errors.append(f"{method} {path} {detail} -> {status}")

    def record(self, response: httpx.Response, acknowledged: bool | None = None) -> None:
        sent = response.request
        try:
            body = sent.content[:200]
        except httpx.RequestNotRead:  # nothing was sent as a body
            body = b""
        detail = f"{sent.url.query!r} {body!r}: {response.text[:300]}"
        self.count(sent.method, sent.url.path, response.status_code, acknowledged, detail)

    def acknowledged(self, money: Callable[[str, str], bool]) -> int:
        """How many acknowledged calls `money(method, path)` calls money calls."""
        return sum(1 for method, path, ok in self.calls if ok and money(method, path))

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())

    def summary(self) -> str:
        histogram = " ".join(f"{code}:{n}" for code, n in sorted(self.statuses.items()))
        five = sum(n for code, n in self.statuses.items() if code >= 500)
        return f"garbage {self.name}: {self.sent} requests, statuses {histogram}, 5xx {five}"

    def report(self, summary: Callable[[str], None], extra: str = "") -> None:
        """Print the summary line and hand it to the reliability `summary` fixture, which
        shows it at the end of the run."""
        line = self.summary() + (f"; {extra}" if extra else "")
        print(line)
        summary(line)


def tally_for(name: str, runtime: Runtime) -> Tally:
    """A tally named after the test and the database engine it runs on."""
    return Tally(f"{name} on {runtime.storage.backend}")


def no_server_errors(tally: Tally) -> None:
    assert not tally.server_errors, "server errors:\n" + "\n".join(tally.server_errors[:20])


# ---- the books -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Books:
    """Every account's balance and the number of ledger entries at one moment."""

    balances: dict[int, Any]
    entries: int

    @classmethod
    def read(cls, runtime: Runtime, admin: Actor) -> Books:
        services = runtime.app
        balances = {a.login: a.balance for a in services.iter_accounts(ListAccounts(), admin)}
        entries = sum(1 for _ in services.iter_ledger(LedgerQuery(), admin))
        return cls(balances, entries)


def check_books(runtime: Runtime, admin: Actor, before: Books, acknowledged: int) -> None:
    """After garbage: the ledger and the audit chain verify, the ledger grew by at most one
    entry per money call acknowledged (a replayed idempotency key books nothing), and when none
    was acknowledged nothing moved at all."""
    services = runtime.app
    assert services.verify_ledger() == []
    report = services.verify_audit()
    assert report.ok, report
    after = Books.read(runtime, admin)
    assert 0 <= after.entries - before.entries <= acknowledged, (before.entries, after.entries)
    if acknowledged == 0:
        kept = {
            login: after.balances[login] for login in before.balances if login in after.balances
        }
        assert kept == {login: before.balances[login] for login in kept}


def garbage_runtime(database_url: str, data_dir: Any) -> Iterator[Runtime]:
    """A runtime whose request-rate limits are off: the garbage comes faster than any client
    may send, and a 429 would stand in the way of the parser under test."""
    from brokerplane import bootstrap

    settings_ = Settings(
        database_url=database_url,
        data_dir=data_dir,
        rate_limit_per_minute=0,
        te_rate_limit_per_second=0,
    )
    runtime = bootstrap.build(settings_)
    try:
        yield runtime
    finally:
        runtime.close()
