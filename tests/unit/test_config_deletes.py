"""Deleting groups and symbols, and hand edits of trade records, over the fakes: what the core
refuses and why (money integrity first)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import Actor
from brokerplane.core.errors import (
    DealNotFound,
    GroupInUse,
    GroupNotFound,
    MissingScope,
    PositionNotFound,
    ReachTooNarrow,
    RecordNotEditable,
    SymbolNotFound,
)
from brokerplane.core.group.commands import CreateGroup, DeleteGroup
from brokerplane.core.group.model import Group
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.core.symbol.commands import CreateSymbol, DeleteSymbol
from brokerplane.core.trading.commands import ChangeTradeRecord


def test_an_empty_group_is_deleted_and_one_with_an_account_is_in_use(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    services.create_group(CreateGroup("demo\\empty", "USD"), admin)
    services.delete_group(DeleteGroup("demo\\empty"), admin)
    with pytest.raises(GroupNotFound):
        services.get_group("demo\\empty", admin)
    services.open_account(OpenAccount(usd_group.name, leverage=100, name="A"), admin)
    with pytest.raises(GroupInUse):
        services.delete_group(DeleteGroup(usd_group.name), admin)
    assert services.get_group(usd_group.name, admin).name == usd_group.name


def test_group_and_symbol_deletes_need_admin_and_enough_reach(
    services: Application, admin: Actor
) -> None:
    services.create_group(CreateGroup("demo\\a", "USD"), admin)
    services.create_symbol(CreateSymbol("EURUSD"), admin)
    clerk = replace(admin, scopes=frozenset({"users:write"}))
    with pytest.raises(MissingScope):
        services.delete_group(DeleteGroup("demo\\a"), clerk)
    limited = replace(admin, group_mask="demo\\*", white_labels="BEST")
    with pytest.raises(ReachTooNarrow):
        services.delete_group(DeleteGroup("demo\\a"), limited)
    with pytest.raises(ReachTooNarrow):
        services.delete_symbol(DeleteSymbol("EURUSD"), limited)
    services.delete_symbol(DeleteSymbol("EURUSD"), admin)
    with pytest.raises(SymbolNotFound):
        services.delete_symbol(DeleteSymbol("EURUSD"), admin)


def test_a_ledger_entry_is_never_edited_and_an_unknown_ticket_is_not_found(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    login = services.open_account(OpenAccount(usd_group.name, leverage=100, name="A"), admin).login
    posting = services.post_ledger_entry(PostLedgerEntry(login, "deposit", "100"), admin)
    ticket = int(posting.operation_id or 0)
    for delete in (False, True):
        with pytest.raises(RecordNotEditable):
            services.change_trade_record(ChangeTradeRecord("deal", ticket, delete), admin)
    with pytest.raises(DealNotFound):
        services.change_trade_record(ChangeTradeRecord("deal", ticket + 100), admin)
    with pytest.raises(PositionNotFound):
        services.change_trade_record(ChangeTradeRecord("position", 1), admin)
    reader = replace(admin, scopes=frozenset({"users:read"}))
    with pytest.raises(MissingScope):
        services.change_trade_record(ChangeTradeRecord("deal", ticket), reader)
    assert services.get_trade_state(login, admin).balance == 100
