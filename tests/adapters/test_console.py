"""The console adapter driven by scripts, as a person would use it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.adapters.console import ConsoleAdapter
from bot.adapters.console._adapter import iterate
from bot.core.platforms import PlatformName
from bot.core.ports import (
    AccessTarget,
    ChannelRef,
    MessageRef,
    PlatformError,
    PlatformErrorReason,
    ScheduledEvent,
)
from bot.core.replies import Button, Image, Reply
from bot.store.tables import message_log
from tests.conftest import output


async def run(console: ConsoleAdapter, *lines: str) -> str:
    """Feed the console ``lines`` as a script and return what it printed."""
    await console.run(iterate(line + "\n" for line in lines))
    return output(console)


async def test_help_then_chinese_then_button(console: ConsoleAdapter) -> None:
    text = await run(console, "/help", "/lang zh", "/help", "/press 3")
    english_help, rest = text.split("alice@#general> /lang zh")
    assert "List the commands you can use" in english_help
    assert "/whoami" in english_help
    assert "[1] English  [2] 中文" in english_help
    chinese_switch, rest = rest.split("alice@#general> /help")
    assert "从现在起我会用中文和你交流" in chinese_switch
    chinese_help, pressed = rest.split("alice@#general> /press 3")
    assert "列出你可以使用的命令" in chinese_help
    assert "List the commands" not in chinese_help
    assert "[3] English  [4] 中文" in chinese_help
    assert "From now on I speak English to you." in pressed


async def test_help_in_chinese_after_press_of_chinese_button(console: ConsoleAdapter) -> None:
    text = await run(console, "/help", "/press 2", "/help")
    second_help = text.rsplit("alice@#general> /help", 1)[1]
    assert "列出你可以使用的命令" in second_help


async def test_as_switches_member_and_role_shows(console: ConsoleAdapter) -> None:
    text = await run(console, "/whoami", "/as bob", "/whoami")
    alice, bob = text.split("You are now bob.")
    assert "Role: admin" in alice
    assert "Alice (@alice)" in alice
    assert "Role: member" in bob
    assert "Bob (@bob)" in bob
    assert "Member: #2" in bob


async def test_messages_are_logged_once_per_line(console: ConsoleAdapter) -> None:
    await run(console, "hello", "/channel random", "again")
    async with console.cohort.db.read() as conn:
        rows = (await conn.execute(select(message_log.c.channel_id, message_log.c.text))).all()
        count = await conn.scalar(select(func.count()).select_from(message_log))
    assert count == 2
    assert sorted(rows) == [("general", "hello"), ("random", "again")]


async def test_quit_stops_reading(console: ConsoleAdapter) -> None:
    text = await run(console, "/quit", "/help")
    assert "Commands" not in text


async def test_bad_meta_commands_explain_themselves(console: ConsoleAdapter) -> None:
    text = await run(console, "/press 99", "/press x", "/as", "/as b$c", "/channel")
    assert "There is no button [99]." in text
    assert "There is no button [x]." in text
    assert text.count("Usage: /as <name>") == 2
    assert "Usage: /channel <name>" in text


@pytest.mark.parametrize("number", ["²", "٣", "9" * 5000, "-1", "1.0"])
async def test_a_button_number_that_is_not_one_is_refused(
    console: ConsoleAdapter, number: str
) -> None:
    text = await run(console, "/help", f"/press {number}", "/whoami")
    assert f"There is no button [{number}]." in text
    assert "Role: admin" in text  # the console is still reading


async def test_press_sends_callback_data_as_a_platform_would(console: ConsoleAdapter) -> None:
    text = await run(console, "/press a|general.lang|zh", "/press a|general.lang", "/press z|x|y")
    assert "从现在起我会用中文和你交流" in text
    assert "There is no button [a|general.lang]." in text  # the console speaks the community's
    assert "There is no button [z|x|y]." in text


async def test_unbalanced_quote_is_a_clear_error(console: ConsoleAdapter) -> None:
    text = await run(console, '/help "who')
    assert 'A quote (") is not closed.' in text
    assert "Traceback" not in text


async def test_platform_port_is_fully_served(console: ConsoleAdapter) -> None:
    here = ChannelRef(PlatformName.CONSOLE, "general")
    sent = await console.send(
        here,
        Reply(
            text="**hi**",
            buttons=(Button("Go", action="x.y"), Button("Docs", url="https://example.org/d")),
            image=Image(data=b"\x89PNG", filename="chart.png"),
        ),
    )
    await console.edit(sent, Reply(text="edited"))
    await console.delete(MessageRef(here, sent.message_id))
    thread = await console.create_thread(here, "Question", Reply(text="body"), tags=("python",))
    await console.close_thread(thread)
    target = AccessTarget(PlatformName.CONSOLE, "vip")
    await console.grant_access("bob", target)
    assert ("bob", target) in console.access
    await console.revoke_access("bob", target)
    assert ("bob", target) not in console.access
    link = await console.create_invite(target)
    start = datetime(2026, 12, 3, 18, 30, tzinfo=UTC)
    event_id = await console.create_scheduled_event(
        "demo", ScheduledEvent("Talk", "about", start, start + timedelta(hours=1), "online")
    )
    text = output(console)
    assert "hi" in text and "[1] Go  [2] Docs <https://example.org/d>" in text
    assert "[image: chart.png]" in text
    assert "(message 1 edited)" in text
    assert "New thread “Question [python]” (thread-1)" in text
    assert "(thread thread-1 closed)" in text
    assert link.startswith("console://invite/vip/")
    assert event_id.startswith("event-")
    later = start + timedelta(days=1)
    await console.edit_scheduled_event(
        "demo", event_id, ScheduledEvent("Talk 2", "", later, later + timedelta(hours=1), "x")
    )
    assert f"(scheduled event {event_id} is now “Talk 2” at 2026-12-04T18:30:00+00:00)" in output(
        console
    )
    await console.delete_scheduled_event("demo", event_id)
    assert f"(scheduled event {event_id} deleted)" in output(console)
    for gone in (
        lambda: console.delete_scheduled_event("demo", event_id),
        lambda: console.edit_scheduled_event(
            "demo", event_id, ScheduledEvent("T", "", start, later, "x")
        ),
    ):
        with pytest.raises(PlatformError) as caught:
            await gone()
        assert caught.value.reason is PlatformErrorReason.NOT_FOUND


async def test_channel_goes_to_a_thread_by_the_name_the_bot_printed(
    console: ConsoleAdapter,
) -> None:
    await run(console, "/channel questions")
    thread = await console.create_thread(console.here, "Question", Reply(text="body"))
    await run(console, "/channel general")
    text = await run(console, "/channel thread-1", "inside")
    assert "New thread" not in text
    assert "You are now in #questions/thread-1." in text
    assert console.here == thread
    async with console.cohort.db.read() as conn:
        row = (
            await conn.execute(
                select(message_log.c.channel_id, message_log.c.thread_id).where(
                    message_log.c.text == "inside"
                )
            )
        ).one()
    assert tuple(row) == ("questions", "thread-1")


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", "There is no thread thread-7 in this console session (threads: -)."),
        ("zh_CN", "本次控制台会话中没有话题 thread-7（已有话题：-）。"),
    ],
)
async def test_an_unknown_thread_name_is_an_error_not_a_new_channel(
    console: ConsoleAdapter, locale: str, expected: str
) -> None:
    console.community = dataclasses.replace(
        console.community, config=dataclasses.replace(console.community.config, locale=locale)
    )
    text = await run(console, "/channel thread-7")
    assert expected in text
    assert console.channel == "general"
