"""A stopping MT5 TCP listener lets a command it is answering finish: the command runs on a
worker thread inside a transaction, which cancelling the connection's task would not stop, so
the answer is sent and only then is the connection closed; an idle connection is closed at once."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import pytest

from brokerplane.api.app import create_app
from brokerplane.api.mt5 import auth
from brokerplane.api.mt5.auth import Sessions
from brokerplane.api.mt5.tcp import Mt5TcpServer
from brokerplane.api.mt5.tcpconnection import Limits
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateManager
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.group.commands import CreateGroup
from tests.e2e.mt5tcpclient import DONE, Mt5TcpClient, TcpAnswer

MANAGER, PASSWORD = 1005, "Password1"


def test_a_command_being_answered_at_shutdown_gets_its_answer(
    runtime: Runtime, admin: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime.app.create_manager(
        CreateManager(MANAGER, "MT5 Manager", PASSWORD, frozenset(SCOPES)), admin
    )
    runtime.app.create_group(CreateGroup("demoforex", "USD"), admin)
    login = runtime.app.open_account(OpenAccount("demoforex", name="Ann"), admin).login
    create_app(runtime)  # mounting the dialect names the raw commands the listener serves
    entered, release = threading.Event(), threading.Event()
    real_run = auth.run

    def held_run(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(10)  # the command is still running when the server is told to stop
        return real_run(*args, **kwargs)

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    server = Mt5TcpServer(runtime.app, Sessions(), Limits(ping_interval_s=0))

    def busy_client() -> TcpAnswer:
        with Mt5TcpClient("127.0.0.1", port, timeout=20).connect() as mt5:
            mt5.auth(MANAGER, PASSWORD, crypt=False)
            monkeypatch.setattr(auth, "run", held_run)
            answer = mt5.send("TRADE_BALANCE", {"LOGIN": login, "TYPE": 2, "BALANCE": "25.50"})
            closed = mt5.closed_by_server(wait=10)
        assert closed, "the connection stays open after its last answer"
        return answer

    def idle_client() -> bool:
        with Mt5TcpClient("127.0.0.1", port, timeout=20).connect() as mt5:
            mt5.auth(MANAGER, PASSWORD, crypt=False)
            ready.set()
            return mt5.closed_by_server(wait=10)

    ready = threading.Event()

    async def scenario() -> tuple[TcpAnswer, bool]:
        loop = asyncio.get_running_loop()
        serving = asyncio.create_task(server.serve([listener]))
        idle = loop.run_in_executor(None, idle_client)
        assert await loop.run_in_executor(None, ready.wait, 10)
        busy = loop.run_in_executor(None, busy_client)
        if not await loop.run_in_executor(None, entered.wait, 10):
            await busy  # raises what kept the command from starting
            pytest.fail("the command never started")
        server.should_exit = True
        idle_closed = await asyncio.wait_for(idle, 10)  # the idle one is closed at once...
        assert not serving.done()  # ...while the server waits for the busy one's answer
        release.set()
        await asyncio.wait_for(serving, 20)
        return await asyncio.wait_for(busy, 20), idle_closed

    # The listener's loop runs on a thread of its own: an earlier test in this process may
    # have left an event loop set on this one (asyncio.run would refuse to start).
    outcome: list[tuple[TcpAnswer, bool]] = []
    failed: list[BaseException] = []

    def serve() -> None:
        try:
            outcome.append(asyncio.run(scenario()))
        except BaseException as exc:  # re-raised on the test's thread below
            failed.append(exc)

    loop_thread = threading.Thread(target=serve)
    try:
        loop_thread.start()
        loop_thread.join(60)
    finally:
        release.set()
        loop_thread.join(30)
        listener.close()
    if failed:
        raise failed[0]
    assert outcome, "the scenario did not finish within 60 s"
    answer, idle_closed = outcome[0]
    assert idle_closed
    assert answer.retcode == DONE, answer
    assert runtime.app.get_account(login, admin).balance == 2550  # minor units: 25.50
