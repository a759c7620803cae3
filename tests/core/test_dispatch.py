"""The dispatcher: permissions, parsing, errors, button presses and incoming messages."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from bot.adapters.console import ConsoleAdapter
from bot.core.cohort import Cohort
from bot.core.commands import ActionSpec, CommandSpec, Option, OptionKind, Permission
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.events import ButtonPressed, MessagePosted
from bot.core.identity import Account, Caller
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef, MessageRef
from bot.core.replies import Reply
from bot.store.tables import message_log

ALICE = Caller(PlatformName.CONSOLE, "alice", "Alice", username="alice")  # admin
OLGA = Caller(PlatformName.CONSOLE, "olga", "Olga", username="olga")  # organizer
BOB = Caller(PlatformName.CONSOLE, "bob", "Bob", username="bob")  # member
HERE = ChannelRef(PlatformName.CONSOLE, "general")
seen: dict[str, Any] = {}


async def echo(ctx: Context, who: Account, amount: int, note: str | None = None) -> str:
    seen.update(who=who, amount=amount, note=note)
    return f"{who.display_name} {amount} {note}"


async def boom(ctx: Context) -> None:
    raise RuntimeError("secret internals")


async def refuse(ctx: Context) -> None:
    raise UserError("member.unknown", option="who", value="**nobody**")


async def when(ctx: Context, at: datetime) -> str:
    return at.isoformat()


async def slow(ctx: Context) -> str:
    await asyncio.sleep(0.05)
    seen["slow_done"] = True
    return "done"


async def gold_only(ctx: Context) -> str:
    return "gold!"


async def press_staff(ctx: Context, payload: str) -> str:
    return f"pressed {payload}"


class Gold:
    """Entitlements where only member 1 holds the gold tier."""

    async def tiers_of(self, member_id: int, now: datetime) -> frozenset[str]:
        return frozenset({"gold"}) if member_id == 1 else frozenset()


@pytest.fixture
def bot(cohort: Cohort, console: ConsoleAdapter) -> Cohort:
    seen.clear()
    member = Option("who", OptionKind.MEMBER, "x")
    amount = Option("amount", OptionKind.INTEGER, "x", min_value=1, max_value=100)
    note = Option("note", OptionKind.TEXT, "x", required=False)
    for command in (
        CommandSpec(
            "give", "x", echo, options=(member, amount, note), permission=Permission.ORGANIZER
        ),
        CommandSpec("boom", "x", boom),
        CommandSpec("refuse", "x", refuse),
        CommandSpec("talk at", "x", when, options=(Option("at", OptionKind.DATETIME, "x"),)),
        CommandSpec("nuke", "x", boom, permission=Permission.ADMIN),
        CommandSpec("slow", "x", slow),
        CommandSpec("vip", "x", gold_only, permission=Permission.TIER, tiers=("gold",)),
    ):
        cohort.registry.add(command)
    cohort.registry.add_action(ActionSpec("staff.press", press_staff, Permission.ORGANIZER))
    return cohort


async def run(
    bot: Cohort, caller: Caller, line: str, reply_to: Caller | None = None
) -> list[Reply]:
    """Run ``line`` as ``caller`` and return the replies."""
    replies: list[Reply] = []

    async def respond(reply: Reply) -> MessageRef | None:
        replies.append(reply)
        return None

    platform = bot.platforms[PlatformName.CONSOLE]
    community = bot.communities["demo"]
    await bot.dispatcher.run_line(
        platform, community, caller, HERE, line, respond, reply_to=reply_to
    )
    return replies


async def test_typed_options_reach_the_handler(bot: Cohort) -> None:
    await run(bot, BOB, "/help")  # Bob is seen once, so he can be mentioned
    replies = await run(bot, OLGA, '/give @bob 5 "for a great answer"')
    assert [r.text for r in replies] == ["Bob 5 for a great answer"]
    assert seen["who"].platform_user_id == "bob"


async def test_a_member_option_comes_from_the_replied_to_message(bot: Cohort) -> None:
    replies = await run(bot, OLGA, "/give amount:7", reply_to=BOB)
    assert [r.text for r in replies] == ["Bob 7 None"]


@pytest.mark.parametrize(
    ("caller", "line", "expected"),
    [
        (BOB, "/give @olga 5", "Only organizers may run /give."),
        (OLGA, "/nuke", "Only admins may run /nuke."),
        (OLGA, "/give @ghost 5", "I do not know the member “ghost” yet"),
        (OLGA, "/give @olga 500", "**amount** must be between 1 and 100."),
        (OLGA, "/give @olga five", "**amount** must be a whole number, not “five”."),
        (OLGA, "/give", "Please give **who**."),
        (BOB, "/talk", "/talk needs one of: at."),
        (BOB, "/talk at 2026-02-30 10:00", "“2026-02-30 10:00” is not a real date or time."),
        (BOB, "/refuse", "I do not know the member “\\*\\*nobody\\*\\*” yet"),
        (BOB, "/vip", "/vip is for members of: gold."),
        (BOB, "/gvie", "Did you mean /give?"),
    ],
)
async def test_refusals_are_translated_and_private(
    bot: Cohort, caller: Caller, line: str, expected: str
) -> None:
    replies = await run(bot, caller, line)
    assert len(replies) == 1
    assert expected in replies[0].text
    assert replies[0].ephemeral


async def test_refusals_speak_the_callers_language(bot: Cohort) -> None:
    await run(bot, BOB, "/lang zh")
    replies = await run(bot, BOB, "/give @olga 5")
    assert replies[0].text == "只有组织者可以使用 /give。"


async def test_a_crash_is_logged_and_the_person_gets_an_apology(
    bot: Cohort, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        replies = await run(bot, BOB, "/boom")
    assert len(replies) == 1
    assert replies[0].text.startswith("Sorry, something went wrong on our side.")
    assert "secret internals" not in replies[0].text
    incident = replies[0].text.split("`")[1]
    record = next(r for r in caplog.records if incident in r.getMessage())
    assert "/boom" in record.getMessage()
    assert record.exc_info is not None


async def test_subcommands_and_time_zones(bot: Cohort) -> None:
    replies = await run(bot, BOB, "/talk at 2026-12-03 19:30")
    assert replies[0].text == "2026-12-03T18:30:00+00:00"  # Europe/Berlin in winter


async def test_tiers_open_commands(bot: Cohort) -> None:
    bot.entitlements = Gold()
    carol = Caller(PlatformName.CONSOLE, "carol", "Carol")
    assert (await run(bot, carol, "/vip"))[0].text == "gold!"  # carol is member 1
    assert "for members of" in (await run(bot, BOB, "/vip"))[0].text


async def test_button_presses_route_and_check_permission(bot: Cohort) -> None:
    replies: list[Reply] = []

    async def respond(reply: Reply) -> MessageRef | None:
        replies.append(reply)
        return None

    platform = bot.platforms[PlatformName.CONSOLE]
    demo = bot.communities["demo"]
    pressed: list[ButtonPressed] = []

    async def collect(event: ButtonPressed) -> None:
        pressed.append(event)

    bot.events.subscribe(ButtonPressed, collect)
    for caller, action in ((OLGA, "staff.press"), (BOB, "staff.press"), (BOB, "gone.away")):
        await bot.dispatcher.press(platform, demo, caller, HERE, action, "p1", respond)
    assert [(e.account.platform_user_id, e.action) for e in pressed] == [("olga", "staff.press")]
    assert [r.text for r in replies] == [
        "pressed p1",
        "Only organizers may do that.",
        "That button no longer works. Run the command again.",
    ]


async def test_drain_waits_for_commands_in_flight(bot: Cohort) -> None:
    task = asyncio.create_task(run(bot, BOB, "/slow"))
    await asyncio.sleep(0.01)
    await bot.dispatcher.drain()
    assert seen.get("slow_done") is True
    await task


async def test_a_message_s_event_and_row_hold_what_the_adapter_gave(bot: Cohort) -> None:
    delivered: list[MessagePosted] = []

    async def collect(event: MessagePosted) -> None:
        delivered.append(event)

    bot.events.subscribe(MessagePosted, collect)
    demo = bot.communities["demo"]
    now = bot.clock.now()
    thread = ChannelRef(PlatformName.CONSOLE, "general", "t1")
    assert await bot.dispatcher.message_posted(
        demo,
        BOB,
        thread,
        "m7",
        "the text",
        now,
        reply_to_message_id="m6",
        mentions=("alice",),
        role_ids=frozenset({"r1"}),
    )
    account = await bot.identity.resolve(demo.id, BOB)
    assert delivered == [  # every field in its place (the dispatcher builds it positionally)
        MessagePosted(
            community=demo,
            account=account,
            channel=thread,
            message_id="m7",
            text="the text",
            posted_at=now,
            reply_to_message_id="m6",
            mentions=("alice",),
            role_ids=frozenset({"r1"}),
        )
    ]
    async with bot.db.read() as conn:
        row = (await conn.execute(select(message_log))).one()
    assert (row.platform, row.channel_id, row.thread_id) == ("console", "general", "t1")
    assert (row.message_id, row.reply_to_message_id, row.text) == ("m7", "m6", "the text")


async def test_messages_are_delivered_once_and_bots_are_ignored(bot: Cohort) -> None:
    delivered: list[MessagePosted] = []

    async def collect(event: MessagePosted) -> None:
        delivered.append(event)

    async def broken(event: MessagePosted) -> None:
        raise RuntimeError("one cog failing must not stop the others")

    bot.events.subscribe(MessagePosted, broken)
    bot.events.subscribe(MessagePosted, collect)
    demo = bot.communities["demo"]
    now = bot.clock.now()
    first = await bot.dispatcher.message_posted(demo, BOB, HERE, "m1", "hi", now)
    repeat = await bot.dispatcher.message_posted(demo, BOB, HERE, "m1", "hi", now)
    robot = Caller(PlatformName.CONSOLE, "robot", "Robot", is_bot=True)
    from_bot = await bot.dispatcher.message_posted(demo, robot, HERE, "m2", "beep", now)
    assert (first, repeat, from_bot) == (True, False, False)
    assert [e.text for e in delivered] == ["hi"]
    assert delivered[0].account.platform_user_id == "bob"
