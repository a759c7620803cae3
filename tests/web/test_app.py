"""The web app: health, served by the same runtime as the console."""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.exc import OperationalError

from bot.adapters.console import ConsoleAdapter
from bot.core.cohort import Cohort
from bot.core.platforms import PlatformName
from bot.core.supervise import TaskState
from bot.runtime import serve
from bot.store.checkpoint import Mode
from bot.web.app import build_app
from tests.conftest import START, make_config


async def test_healthz_reports_the_database_and_communities(cohort: Cohort) -> None:
    async with TestClient(TestServer(build_app(cohort))) as client:
        response = await client.get("/healthz")
        assert response.status == 200
        body = await response.json()
    assert body["status"] == "ok"
    assert body["communities"] == ["demo"]
    assert body["platforms"] == {} and body["tasks"] == {}  # nothing started here


async def test_healthz_is_unavailable_while_a_task_is_down_and_says_which(
    cohort: Cohort, console: ConsoleAdapter
) -> None:
    cohort.supervisor.seen(PlatformName.CONSOLE)
    gateway = cohort.supervisor.watch("discord.gateway")
    gateway.lost("disconnected")  # discord.py is reconnecting
    async with TestClient(TestServer(build_app(cohort))) as client:
        response = await client.get("/healthz")
        assert response.status == 503
        body = await response.json()
        assert body["status"] == "unavailable" and body["database"] == "ok"
        assert body["tasks"]["discord.gateway"] == {
            "state": "retrying",
            "restarts": 0,
            "failures": 0,
            "skipped": 0,
            "last_ok": None,
            "last_error": {"kind": "transient", "reason": "disconnected", "at": START.isoformat()},
        }
        assert body["platforms"] == {"console": {"last_event": START.isoformat()}}
        gateway.ok()  # the session resumed
        response = await client.get("/healthz")
        assert response.status == 200
        assert (await response.json())["tasks"]["discord.gateway"]["last_ok"] == START.isoformat()


async def test_healthz_shows_the_wal_checkpointer_once_the_store_is_watched(cohort: Cohort) -> None:
    checkpointer = cohort.db.checkpointer
    if checkpointer is None:
        pytest.skip("the WAL checkpointer is SQLite's")
    cohort.watch_store()
    cohort.watch_store()  # once: a second call starts nothing
    await checkpointer.checkpoint(Mode.PASSIVE)  # what its task does after commits
    async with TestClient(TestServer(build_app(cohort))) as client:
        response = await client.get("/healthz")
        assert response.status == 200
        task = (await response.json())["tasks"]["store.checkpoint"]
    assert task["state"] == "running" and task["last_ok"] == START.isoformat()
    assert task["checkpoints"] >= 1 and task["truncations"] == 0
    assert task["copied_frames"] == task["wal_frames"]
    await cohort.supervisor.close()
    assert cohort.supervisor.watches["store.checkpoint"].state is TaskState.STOPPED


async def test_healthz_says_unavailable_when_the_database_fails(
    cohort: Cohort, monkeypatch: pytest.MonkeyPatch
) -> None:
    @contextlib.asynccontextmanager
    async def broken_read() -> AsyncIterator[None]:
        raise OperationalError("SELECT 1", {}, Exception("disk I/O error"))
        yield

    monkeypatch.setattr(cohort.db, "read", broken_read)
    async with TestClient(TestServer(build_app(cohort))) as client:
        response = await client.get("/healthz")
        assert response.status == 503
        assert (await response.json())["database"] == "down"


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_run_serves_web_and_console_together(tmp_path: Path) -> None:
    port = free_port()
    config = make_config(tmp_path, web={"enabled": True, "host": "127.0.0.1", "port": port})
    ready = asyncio.Event()
    out = io.StringIO()

    async def lines():  # type: ignore[no-untyped-def]
        yield "/whoami\n"
        ready.set()
        await asyncio.sleep(3600)  # a person who has not typed anything else yet
        yield "/quit\n"

    stop = asyncio.Event()
    task = asyncio.create_task(serve(config, lines=lines(), out=out, stop=stop))
    await asyncio.wait_for(ready.wait(), 30)
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    assert response.status == 200
                    break
            except aiohttp.ClientConnectorError:
                await asyncio.sleep(0.05)
        else:
            raise AssertionError("the web app never answered")
    stop.set()
    assert await asyncio.wait_for(task, 30) == 0
    assert "Who you are here" in out.getvalue()
