"""Each command names its scopes once, on its class (core.actor.needs): every command the
application layer runs for an actor declares them, the core's rules read the declaration
(actor.require_for) rather than naming a scope for a declared command, and no dialect restates
one (native writes derive the check before a replay from the commands they run)."""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import inspect
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

from brokerplane.application.app import Application, _handlers, commands_in, require_declared
from brokerplane.core.account.commands import ChangePassword, UpdateAccount
from brokerplane.core.actor import SCOPES, Actor, declares_scopes, needs, scopes_of
from brokerplane.core.errors import MissingScope
from brokerplane.core.ledger.commands import PostLedgerEntry

SRC = Path(__file__).resolve().parents[2] / "src" / "brokerplane"
SLICES: tuple[str, ...] = ("access", "account", "approval", "attribute", "backoffice", "events")
SLICES += ("group", "ledger", "symbol", "trading", "user")

# Selections read with a scope the read itself names (the same filter serves reads of
# different scopes): the only command-module classes a front-door call may take undeclared.
READ_SELECTIONS = {"BatchSelection", "PositionOf"}

# Scopes a dialect still names for something that is not one command: none. (An MT5 batch
# delete checks DeleteUser's declaration once, the console's administration pages that of
# Administration: many commands behind one page, refused before anything is read.)
DIALECT_LITERALS: set[tuple[str, str]] = set()


def _command_classes() -> dict[str, type]:
    found: dict[str, type] = {}
    for name in SLICES:
        module = importlib.import_module(f"brokerplane.core.{name}.commands")
        for cls in vars(module).values():
            ours = isinstance(cls, type) and cls.__module__ == module.__name__
            if ours and isinstance(cls, type) and dataclasses.is_dataclass(cls):
                found[cls.__name__] = cls
    return found


def _walk(hint: object) -> Iterator[object]:
    yield hint
    for arg in typing.get_args(hint):
        yield from (x for item in arg for x in _walk(item)) if isinstance(arg, list) else _walk(arg)


def _run_for_an_actor() -> set[type]:
    """The command classes that Application's public methods take beside an actor, and the
    ones Application.run dispatches."""
    classes = set(_command_classes().values())
    taken: set[type] = set(_handlers())
    for name, method in inspect.getmembers(Application, inspect.isfunction):
        if name.startswith("_"):
            continue
        hints = typing.get_type_hints(method)
        if hints.get("actor") is not Actor:
            continue
        for param, hint in hints.items():
            if param != "return":
                taken |= {t for t in _walk(hint) if isinstance(t, type) and t in classes}
    return taken


def test_every_command_the_application_runs_for_an_actor_declares_its_scopes() -> None:
    taken = _run_for_an_actor()
    assert len(taken) >= 60  # the walk found the front door's commands, not nothing
    missing = sorted(c.__name__ for c in taken if not declares_scopes(c))
    assert missing == sorted(READ_SELECTIONS)


def test_declared_scopes_are_scopes() -> None:
    for cls in filter(declares_scopes, _run_for_an_actor()):
        assert set(scopes_of(cls)) <= set(SCOPES), cls.__name__
    with pytest.raises(ValueError, match="not scopes"):
        needs("money:write")


def test_core_rules_read_a_declared_commands_scope_from_its_class() -> None:
    """A rule (or front-door method) given a declared command checks actor.require_for(it),
    never a scope by name."""
    declared = {n for n, c in _command_classes().items() if declares_scopes(c)}
    restated = []
    for path in sorted([*(SRC / "core").rglob("*.py"), *(SRC / "application").rglob("*.py")]):
        tree = ast.parse(path.read_text())
        for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            typed = [ast.unparse(a.annotation).split(".")[-1] for a in fn.args.args if a.annotation]
            if not declared & set(typed):
                continue
            for stmt in fn.body:  # the rule's own check, not a helper's branch
                call = stmt.value if isinstance(stmt, ast.Expr) else None
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr in ("require", "require_any")
                    and any(isinstance(a, ast.Constant) and a.value in SCOPES for a in call.args)
                ):
                    restated.append(f"{path.relative_to(SRC)}:{call.lineno} {fn.name}")
    assert restated == []


# What a read (or write) by id is given: a rule taking one of these reads one thing by its id.
ID_PARAMS = frozenset({"login", "user_id", "approval_id", "branding_id", "group_id", "sub_id"})
# Writes by id that still name their scope in the rule (no command class yet): an operator's
# balance repair, a second factor's reset, a user's agreement or log-out mark.
WRITES_BY_ID = {"fix_balance", "reset", "_mark"}


def test_a_read_by_id_reads_its_scope_from_a_declared_read() -> None:
    """A rule reading one thing by its id (get_*, a history, a balance check) checks the
    declaration of its read's class (ReadAccount, ReadUser...), never a scope by name."""
    named = []
    for path in sorted([*(SRC / "core").rglob("*.py"), *(SRC / "application").rglob("*.py")]):
        tree = ast.parse(path.read_text())
        for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            by_id = ID_PARAMS & {a.arg for a in fn.args.args} or fn.name.startswith("get_")
            if not by_id or fn.name in WRITES_BY_ID:
                continue
            named += [
                f"{path.relative_to(SRC)}:{line} {fn.name}" for line, _ in _scope_literals(fn)
            ]
    assert named == []


def _scope_literals(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Scopes named in a check (require, require_any, has) or as a write's `scopes=`."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Name) and node.func.id == "write":
            for kw in node.keywords:
                if kw.arg == "scopes":
                    yield node.lineno, "scopes="
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("require", "require_any"):
            for arg in node.args:
                if isinstance(arg, ast.Constant) and arg.value in SCOPES:
                    yield node.lineno, str(arg.value)


def test_no_dialect_restates_a_commands_scope() -> None:
    restated = []
    named = set()
    for path in sorted((SRC / "api").rglob("*.py")):
        where = str(path.relative_to(SRC / "api"))
        for line, scope in _scope_literals(ast.parse(path.read_text())):
            named.add((where, scope))
            if (where, scope) not in DIALECT_LITERALS:
                restated.append(f"api/{where}:{line} {scope}")
    assert restated == []
    assert named == DIALECT_LITERALS  # an exception no longer needed is taken off the list


def _front(*commands: object, **named: object) -> None:
    """A stand-in for a front-door method, for functools.partial to bind commands to."""


def test_the_checks_before_a_replay_come_from_the_commands_a_write_runs() -> None:
    update = UpdateAccount(1, {"name": "x"})
    reader = Actor(1, frozenset({"users:read"}))
    call = functools.partial(_front, [ChangePassword(1, "main", "x")], update=None)
    assert commands_in(call) == [ChangePassword(1, "main", "x")]
    assert commands_in(functools.partial(_front, update)) == [update]
    assert commands_in(lambda a: a) == []
    with pytest.raises(MissingScope, match="users:write"):
        require_declared(functools.partial(_front, update), reader)
    with pytest.raises(MissingScope, match="balances:write"):
        require_declared(PostLedgerEntry(1, "deposit", "1"), reader)
    admin = Actor(1, frozenset({"admin"}))
    require_declared(functools.partial(_front, update), admin)
