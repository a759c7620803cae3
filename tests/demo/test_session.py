"""A newcomer's first hour, scripted: the demo community through the console and its web app.

The session runs as ``cohort demo`` runs it (``bot.demo.run``: the demo folder, the seeded
community, ``serve`` with the web app on a free loopback port); the pretend checkout and
billing pages are driven over HTTP exactly as a browser would (GET the page, POST its form).
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot import demo

pytestmark = pytest.mark.backend_free

WAIT = 20.0  # a generous bound on the bot's own background work (the gating worker)


class Session:
    """A console session fed line by line, reading what the console printed."""

    def __init__(self) -> None:
        self.out = io.StringIO()
        self.lines: asyncio.Queue[tuple[str, asyncio.Future[None]] | None] = asyncio.Queue()
        self.read_upto = 0

    async def feed(self) -> AsyncIterator[str]:
        """Yield the lines typed; the console asks for the next once it has acted on one."""
        while (item := await self.lines.get()) is not None:
            line, handled = item
            yield line + "\n"
            handled.set_result(None)

    async def type(self, line: str, *, until: str | None = None) -> str:
        """Type ``line``; return what the console printed for it (and until ``until`` shows)."""
        handled = asyncio.get_running_loop().create_future()
        self.lines.put_nowait((line, handled))
        await asyncio.wait_for(handled, WAIT)
        if until is not None:
            await self.wait_for(until, start=self.read_upto)
        text = self.out.getvalue()
        printed = text[self.read_upto :]
        self.read_upto = len(text)
        return printed

    async def wait_for(self, pattern: str, *, start: int) -> str:
        """Wait until ``pattern`` is printed after ``start``; return everything after it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while not re.search(pattern, self.out.getvalue()[start:]):
            assert loop.time() < deadline, f"never printed {pattern!r}:\n{self.out.getvalue()}"
            await asyncio.sleep(0.02)
        return self.out.getvalue()[start:]


async def test_a_newcomers_first_hour(tmp_path: Path) -> None:
    session = Session()
    running = asyncio.create_task(
        demo.run(tmp_path / "demo", lines=session.feed(), out=session.out)
    )
    try:
        await script(session)
    finally:
        session.lines.put_nowait(None)
        assert await asyncio.wait_for(running, WAIT) == 0


async def script(s: Session) -> None:
    printed = await s.type("/as discord:alice")
    assert "You are now alice on a simulated discord" in printed
    printed = await s.type("/link")
    code = re.search(r"Your code is (\w+)", printed)
    assert code is not None, printed
    printed = await s.type("/as telegram:alice")
    printed = await s.type(f"/link {code.group(1)}")
    assert (
        "Linked. Your points, purchases and history now follow you on: Discord, Telegram."
        in printed
    )
    printed = await s.type("/join pro")
    assert re.search(
        r"\[\d+\] Pay on the demo checkout \(pretend money\) <http://127\.0\.0\.1:", printed
    )
    url = re.search(r"http://127\.0\.0\.1:\d+/demo/checkout/\w+", printed)
    assert url is not None, printed
    async with aiohttp.ClientSession() as http:
        async with http.get(url.group(0)) as page:
            html = await page.text()
            assert page.status == 200, html
        token = re.search(r'name="token" value="(\w+)"', html)
        assert token is not None
        async with http.post(url.group(0), data={"token": token.group(1), "action": "pay"}) as paid:
            assert paid.status == 200, await paid.text()
    # The platform grants happen on the simulated platforms, and print here.
    await s.wait_for(
        r"\[discord\] \(access to 100000000000000001/200000000000000001 granted", start=0
    )
    await s.wait_for(r"\[telegram\] \(access to -1001000000001 granted to alice\)", start=0)
    printed = await s.type("/membership")
    assert "Pro — active (subscription)" in printed

    printed = await s.type("/billing")
    url = re.search(r"http://127\.0\.0\.1:\d+/demo/billing/\w+", printed)
    assert url is not None, printed
    async with aiohttp.ClientSession() as http:
        async with http.get(url.group(0)) as page:
            html = await page.text()
            assert page.status == 200, html
        assert "Pro, 19.00 USD" in html
        charge = re.search(r'name="charge" value="(\w+)"', html)
        token = re.search(r'name="token" value="(\w+)"', html)
        assert charge is not None and token is not None
        form = {"charge": charge.group(1), "token": token.group(1)}
        async with http.post(url.group(0), data=form) as refunded:
            assert refunded.status == 200, await refunded.text()
            assert "Refunded." in await refunded.text()
    start = s.read_upto
    await s.wait_for(
        r"\[discord\] \(access to 100000000000000001/200000000000000001 taken", start=start
    )
    await s.wait_for(r"\[telegram\] \(access to -1001000000001 taken from alice\)", start=start)
    printed = await s.type("/membership")
    assert "Pro — refunded (subscription)" in printed

    # Lectures: the seeded ones lie ahead; a new one is announced with buttons to answer.
    printed = await s.type("/lectures")
    assert "Pandas in practice" in printed and "Office hours" in printed
    await s.type("/as alice")
    printed = await s.type('/lecture schedule "Demo night" "in 1d" 1h speaker:Alice')
    going = re.search(r"\[(\d+)\] ✅", printed)
    assert going is not None, printed
    await s.type("/as bob")
    printed = await s.type(f"/press {going.group(1)}")
    assert "Demo night" in printed
    printed = await s.type("/lectures")
    assert "Demo night" in printed and "1 going · you: going" in printed

    # A question, an answer in its thread, the answer accepted.
    await s.type("/as erin")
    printed = await s.type("/ask How do I label the axes of a seaborn chart? #charts")
    thread = re.search(r"\((thread-\d+)\)", printed)
    assert thread is not None, printed
    await s.type("/as carol")
    await s.type(f"/channel general/{thread.group(1)}")
    await s.type("Call ax.set_xlabel and ax.set_ylabel on the axes seaborn returns.")
    await s.type("/as erin")
    printed = await s.type("/accept @carol")
    assert "Solved: the answer by Carol was accepted (+50 points)" in printed

    # The seeded members and what they just did rank on this week's board.
    await s.type("/channel general")
    printed = await s.type("/leaderboard")
    assert "1. Carol" in printed and "Nobody has points" not in printed

    # Bob wrote about Python: his suggestions are his own, not only the popular ones.
    await s.type("/as bob")
    printed = await s.type("/recommend")
    assert "1. Python for Beginners: You wrote about “python”" in printed
