"""Export download links: single use, expiry to the second, only a hash stored."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.cogs.privacy._rules import digest
from bot.cogs.privacy._service import PrivacyService
from bot.core.clock import ManualClock
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.privacy import Requester
from bot.runtime import build
from bot.store.tables import privacy_downloads
from bot.web.app import build_app
from tests.conftest import make_config

BOB = Caller(PlatformName.TELEGRAM, "4242", "Bobby", username="bobby")


@pytest.fixture
async def bot(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Cohort]:
    config = make_config(
        tmp_path,
        web={"enabled": True, "port": 8099, "public_url": "https://cohort.example.org/"},
    )
    cohort = await build(config, clock=clock)
    try:
        yield cohort
    finally:
        await cohort.db.close()


async def link_for_bob(cohort: Cohort) -> tuple[int, str]:
    community = cohort.communities["demo"]
    bob = (await cohort.identity.resolve(community.id, BOB)).member_id
    url = await PrivacyService(cohort).link(community, bob)
    assert url is not None and url.startswith("https://cohort.example.org/privacy/demo/")
    return bob, url.removeprefix("https://cohort.example.org")


async def test_a_link_downloads_once(bot: Cohort) -> None:
    bob, path = await link_for_bob(bot)
    async with TestClient(TestServer(build_app(bot))) as client:
        first = await client.get(path)
        assert first.status == 200
        assert first.headers["Cache-Control"] == "no-store"
        assert first.headers["Content-Disposition"].startswith('attachment; filename="cohort-demo-')
        document = json.loads(await first.read())
        assert document["member"]["id"] == bob
        assert document["data"]["accounts.member_id"][0]["username"] == "bobby"
        assert "token_hash" not in json.dumps(document)
        second = await client.get(path)
        assert second.status == 404


async def test_only_a_hash_of_the_token_is_stored(bot: Cohort) -> None:
    _, path = await link_for_bob(bot)
    token = path.rsplit("/", 1)[1]
    async with bot.db.read() as conn:
        stored = (await conn.execute(select(privacy_downloads.c.token_hash))).scalars().all()
    assert stored == [digest(token)] and token not in stored


@pytest.mark.parametrize(
    ("after", "status"), [(timedelta(minutes=59, seconds=59), 200), (timedelta(hours=1), 404)]
)
async def test_a_link_expires_to_the_second(
    bot: Cohort, clock: ManualClock, after: timedelta, status: int
) -> None:
    _, path = await link_for_bob(bot)
    clock.advance(after)
    async with TestClient(TestServer(build_app(bot))) as client:
        assert (await client.get(path)).status == status


@pytest.mark.parametrize(
    "mangle",
    [
        lambda p: p.replace("/demo/", "/other/"),
        lambda p: p[:-1] + ("A" if p[-1] != "A" else "B"),
        lambda p: p[:-20],
    ],
)
async def test_a_wrong_link_is_not_found(bot: Cohort, mangle: object) -> None:
    _, path = await link_for_bob(bot)
    async with TestClient(TestServer(build_app(bot))) as client:
        assert (await client.get(mangle(path))).status == 404  # type: ignore[operator]
        assert (await client.get(path)).status == 200  # the real one was not spent by those


async def test_a_link_dies_with_the_member(bot: Cohort) -> None:
    bob, path = await link_for_bob(bot)
    await bot.privacy.erase(bot.communities["demo"].id, bob, Requester.SELF)
    async with TestClient(TestServer(build_app(bot))) as client:
        assert (await client.get(path)).status == 404
