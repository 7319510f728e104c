"""`brokerplane events tail` on both engines: the feed as lines a person reads or as the same
JSON objects GET /v1/events answers, filtered by type and group."""

from __future__ import annotations

import json

from click.testing import CliRunner, Result

from brokerplane.bootstrap import Runtime
from brokerplane.cli.main import main
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import Actor
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.ledger.commands import PostLedgerEntry


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_events_tail_prints_the_feed(runtime: Runtime, admin: Actor, database_url: str) -> None:
    services = runtime.app
    services.create_group(CreateGroup("demo-usd", "USD"), admin)
    services.create_group(CreateGroup("real-usd", "USD"), admin)
    demo = services.open_account(OpenAccount(group="demo-usd", name="Tail Demo"), admin).login
    real = services.open_account(OpenAccount(group="real-usd", name="Tail Real"), admin).login
    services.post_ledger_entry(PostLedgerEntry(demo, "deposit", "12.50"), admin)
    services.post_ledger_entry(PostLedgerEntry(real, "deposit", "3"), admin)

    as_json = run(
        "events", "tail", "--database-url", database_url, "--after", "0", "--no-follow", "--json"
    )
    assert as_json.exit_code == 0, as_json.output
    items = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [i["type"] for i in items] == [
        "account.opened",
        "account.opened",
        "ledger.entry_posted",
        "ledger.entry_posted",
    ]
    assert items[2]["data"]["balance"] == "12.50" and items[2]["login"] == demo

    human = run(
        "events",
        "tail",
        "--database-url",
        database_url,
        "--after",
        "0",
        "--no-follow",
        "--type",
        "ledger.",
        "--group",
        "demo*",
    )
    assert human.exit_code == 0, human.output
    lines = human.stdout.splitlines()
    assert len(lines) == 1
    assert f"login {demo} (demo-usd)" in lines[0] and "deposit 12.50 USD" in lines[0]

    # without --after: only what commits from now on (none here)
    quiet = run("events", "tail", "--database-url", database_url, "--no-follow")
    assert quiet.exit_code == 0 and quiet.stdout == ""
    bad = run("events", "tail", "--database-url", database_url, "--type", "nope")
    assert bad.exit_code != 0 and "unknown event type" in bad.output
