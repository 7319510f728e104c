"""Seeded SQLite templates for the dialect fixtures.

Each dialect's fixture (native `api`, MT5 `mt5`, cTrader `ct`, TraderEvolution `te`) starts
from a manager, keys, groups and symbols made through the services: audited commands that
together cost more than most of the tests' own requests. On SQLite they run once per session
(per xdist worker) into a copy of the migrated template, and every test that uses the fixture
gets a copy of that seeded file of its own (`sqlite_copy`, each dialect directory's
`sqlite_url`): the same rows, audit records and events the setup would have written into its
database, sealed with the same audit key. The fixture then takes what the setup returned (key
secrets, ids) from the seed instead of running it again (`setup_once`).

Nothing else changes: a test that does not use the fixture gets the empty migrated copy, and on
PostgreSQL (and for any database that is not the seeded copy) the fixture runs its setup on the
test's own database as before. The setup is the same function either way.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest

from brokerplane import bootstrap
from brokerplane.bootstrap import Runtime
from brokerplane.core.actor import Actor, system_actor
from brokerplane.settings import Settings
from tests.conftest import SQLITE_FILE, fold_into_one_file

T = TypeVar("T")

Setup = Callable[[Runtime, Actor], T]


@dataclass(frozen=True)
class Seed(Generic[T]):
    """A seeded template: the fixture it stands for, its file, and what its setup returned."""

    fixture: str
    path: Path
    made: T


@dataclass(frozen=True)
class _Copied:
    seed: Seed[Any]
    url: str


_COPIED = pytest.StashKey[_Copied]()


def _url(path: Path) -> str:
    return f"sqlite:///{path.as_posix()}"


def make_seed(
    fixture: str, setup: Setup[T], template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Seed[T]:
    """Run `setup` (as the fixture would, as the admin) on a copy of the migrated `template`,
    and fold the result into one file to copy."""
    folder = tmp_path_factory.mktemp(f"seed-{fixture}")
    path = folder / SQLITE_FILE
    shutil.copyfile(template, path)
    runtime = bootstrap.build(Settings(database_url=_url(path), data_dir=folder))
    try:
        made = setup(runtime, system_actor())
    finally:
        runtime.close()
    fold_into_one_file(path)
    return Seed(fixture, path, made)


def sqlite_copy(
    request: pytest.FixtureRequest, template: Path, tmp_path: Path, fixture: str, seed: str
) -> str:
    """A fresh SQLite database under tmp_path, as a URL: a copy of the seeded template (the
    session fixture named `seed`) when the test uses `fixture`, else of the migrated one."""
    target = tmp_path / SQLITE_FILE
    url = _url(target)
    if fixture in request.fixturenames:
        seeded: Seed[Any] = request.getfixturevalue(seed)
        request.node.stash[_COPIED] = _Copied(seeded, url)
        template = seeded.path
    shutil.copyfile(template, target)
    return url


def setup_once(
    request: pytest.FixtureRequest, fixture: str, runtime: Runtime, admin: Actor, setup: Setup[T]
) -> T:
    """What `setup` made in the runtime's database: taken from the seed when that database is
    the test's copy of it, else made now by running `setup` there."""
    copied = request.node.stash.get(_COPIED, None)
    if copied is not None and copied.seed.fixture == fixture and runtime.storage.url == copied.url:
        made: T = copied.seed.made
        return made
    return setup(runtime, admin)
