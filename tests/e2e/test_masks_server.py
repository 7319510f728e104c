"""Name masks cannot freeze a real server: a short mask with many stars, sent by a reader through
every listing that takes one, is answered at once while `/health` keeps answering; a mask past
the limits is refused in the caller's words.

The server runs in a process of its own, so a matcher that backtracked (and held the GIL) would
show here as requests timing out, not as a frozen test run."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from brokerplane import bootstrap
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import system_actor
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.symbol.commands import CreateSymbol
from brokerplane.settings import Settings
from tests.e2e.mt5client import Mt5Client, Mt5RetcodeError
from tests.e2e.transport_support import ServerProcess

MANAGER, PASSWORD = 1000, "Manag3r!pw"
GUARD_S = 10.0  # far above any real answer; a backtracking matcher needs hours here
# 26 characters; against the names below a backtracking regex tries about 10^12 placements.
SHORT = "*a*a*a*a*a*a*a*a*a*a*a*a*b"
# 70 characters, as long as the one that froze the server for minutes; 16 stars a part.
LONG = "*a" * 15 + "*b," + "!" + "*a" * 15 + "*aaaab"
PATHOLOGICAL = [SHORT, LONG]
TOO_MANY_STARS = "*a" * 17 + "*b"  # 18 stars in one part: past the limit of 16
TOO_LONG = "demo\\x," * 200  # 1400 characters


@dataclass
class Served:
    base: str
    key: str


@pytest.fixture(scope="module")
def served(_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A reader's key and MT5 password over groups, accounts and a symbol named by long runs
    of `a` (what the masks above are hardest on), served by `brokerplane serve`; the tests
    only read, so they share it."""
    tmp_path = tmp_path_factory.mktemp("masks-server")
    sqlite_url = f"sqlite:///{(tmp_path / 'masks.db').as_posix()}"
    shutil.copyfile(_sqlite_template, tmp_path / "masks.db")
    admin = system_actor()
    runtime = bootstrap.build(Settings(database_url=sqlite_url, data_dir=tmp_path))
    try:
        services = runtime.app
        reader = frozenset({"users:read", "reports:read"})
        services.create_manager(CreateManager(MANAGER, "Reader", PASSWORD, rights=reader), admin)
        key = services.create_api_key(CreateApiKey(MANAGER, reader), admin).secret
        for name in ("a" * 63, "demo\\" + "a" * 58):
            services.create_group(CreateGroup(name, "USD"), admin)
            services.open_account(OpenAccount(group=name, name="Mask Probe"), admin)
        services.create_symbol(CreateSymbol("a" * 31, {"path": "a" * 63}), admin)
    finally:
        runtime.close()
    server = ServerProcess(sqlite_url, tmp_path / "server.log")
    try:
        server.wait_ready()
        yield Served(server.base, key)
    finally:
        server.stop()


def _native_probes(mask: str) -> list[tuple[str, dict[str, str]]]:
    return [
        ("/v1/users", {"group": mask}),
        ("/v1/reports/users", {"group": mask}),
        ("/v1/reports/users", {"group": mask, "format": "csv"}),
        ("/v1/groups", {"name": mask}),
        ("/v1/symbols", {"name": mask}),
        ("/v1/positions", {"group": mask}),
    ]


def _while_health_answers(served: Served, probe: Callable[[], list[int]]) -> list[int]:
    """Runs `probe` on a thread and asks /health meanwhile; both must answer within the guard."""
    with ThreadPoolExecutor(1) as pool, httpx.Client(base_url=served.base, timeout=GUARD_S) as h:
        running = pool.submit(probe)
        healthy = [h.get("/health").status_code for _ in range(5)]
        statuses = running.result(timeout=GUARD_S * 4)
    assert healthy == [200] * 5
    return statuses


@pytest.mark.parametrize("mask", PATHOLOGICAL, ids=["short", "70-chars"])
def test_a_pathological_mask_is_answered_at_once_through_the_native_api(
    served: Served, mask: str
) -> None:
    headers = {"Authorization": f"Bearer {served.key}"}

    def probe() -> list[int]:
        with httpx.Client(base_url=served.base, headers=headers, timeout=GUARD_S) as http:
            return [
                http.get(path, params=params).status_code for path, params in _native_probes(mask)
            ]

    assert _while_health_answers(served, probe) == [200] * len(_native_probes(mask))


@pytest.mark.parametrize("mask", PATHOLOGICAL, ids=["short", "70-chars"])
def test_a_pathological_mask_is_answered_at_once_through_mt5(served: Served, mask: str) -> None:
    def probe() -> list[int]:
        with Mt5Client(served.base, timeout=GUARD_S) as mt5:
            mt5.auth(MANAGER, PASSWORD)
            answers = [
                mt5.send("user/logins", {"group": mask}),
                mt5.send("user/get_batch", {"group": mask}),
                mt5.send("position/get_batch", {"group": mask}),
                mt5.send("group/get", {"mask": mask}),
                mt5.send("symbol/get", {"mask": mask}),
            ]
        return [int(a["retcode"].split()[0]) for a in answers]

    statuses = _while_health_answers(served, probe)
    # 0 Done, or 13 Not found for a config mask that matches nothing
    assert set(statuses) <= {0, 13}, statuses


@pytest.mark.parametrize("mask", [TOO_MANY_STARS, TOO_LONG], ids=["stars", "length"])
def test_a_mask_past_the_limits_is_a_validation_problem_natively(served: Served, mask: str) -> None:
    headers = {"Authorization": f"Bearer {served.key}"}
    with httpx.Client(base_url=served.base, headers=headers, timeout=GUARD_S) as http:
        answers = [http.get(path, params=params) for path, params in _native_probes(mask)]

    for answer in answers:
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        problem = answer.json()
        assert problem["code"] == "validation.mask"
        assert problem["errors"][0]["field"] in ("group", "name")
        assert "at most" in problem["detail"]


@pytest.mark.parametrize("mask", [TOO_MANY_STARS, TOO_LONG], ids=["stars", "length"])
def test_a_mask_past_the_limits_is_retcode_3_through_mt5(served: Served, mask: str) -> None:
    refused = []
    with Mt5Client(served.base, timeout=GUARD_S) as mt5:
        mt5.auth(MANAGER, PASSWORD)
        for command, params in [
            ("user/logins", {"group": mask}),
            ("user/get_batch", {"group": mask}),
            ("position/get_batch", {"group": mask}),
            ("group/get", {"mask": mask}),
            ("symbol/get", {"mask": mask}),
            ("tick/last", {"symbol": mask}),
        ]:
            with pytest.raises(Mt5RetcodeError) as error:
                mt5.call(command, params)
            refused.append(error.value.code)

    assert refused == [3] * 6
