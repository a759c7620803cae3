"""Weeks of chat for the demo community, so that the organizers' dashboard has a past to chart.

Members arrive over the weeks (some on Discord, some on Telegram, through the console's
``/as platform:name``), talk most on weekday evenings, ask and answer questions, come to a
weekly study hall, buy the tier and courses; one links his two accounts; a few go quiet; the
organizer warns someone now and then.
Everything is typed through the real commands on a clock moved day by day, and drawn
from a seeded random generator, so the same days give the same history.
"""

from __future__ import annotations

import io
import json
import logging
import random
import re
from datetime import datetime, timedelta

from bot.adapters.console import ConsoleAdapter
from bot.cogs.gating import Gating
from bot.cogs.gating._demo import DemoGateway
from bot.cogs.gating._simulate import _envelope as envelope
from bot.core.clock import ManualClock

log = logging.getLogger(__name__)

HISTORY_IDS = 20001  # the history's console thread numbers, apart from the script's
SEED = 16

# (who, day they arrive as a share of the history, how chatty from 0 to 1)
CAST: tuple[tuple[str, float, float], ...] = (
    ("bob", 0.0, 0.9),
    ("carol", 0.0, 0.8),
    ("dave", 0.05, 0.6),
    ("erin", 0.1, 0.5),
    ("discord:frank", 0.2, 0.7),
    ("discord:grace", 0.3, 0.4),
    ("telegram:heidi", 0.35, 0.6),
    ("telegram:ivan", 0.45, 0.3),
    ("discord:judy", 0.55, 0.5),
    ("telegram:karl", 0.65, 0.4),
    ("discord:liam", 0.75, 0.6),
    ("telegram:mia", 0.85, 0.5),
)
QUIET_AFTER = {"erin": 0.6, "telegram:ivan": 0.7}  # members who stop talking
LINES = (
    "Has anyone tried the new pandas release? The copy-on-write change surprised me.",
    "I finished the plotting exercise, seaborn makes the colours easy.",
    "Question for the group: how do you structure a small data project?",
    "Thanks for the tip yesterday, groupby with agg solved it.",
    "Reading the scikit-learn docs on cross-validation tonight.",
    "My notebook got slow with a big CSV, chunks helped a lot.",
    "Who is coming to the next live session?",
    "I wrote a short script to clean dates in our survey data.",
    "Matplotlib subplots finally make sense to me.",
    "Is a random forest a good first model for tabular data?",
)
QUESTIONS = (
    "How do I read only some columns from a CSV? | The file is 2 GB #python",
    "Why does my plot show no labels? | I call plt.show() at the end #dataviz",
    "What is a good train/test split? | For 5,000 rows #ml",
    "How do I merge two data frames on a date? | The times differ by seconds #python",
)
ANSWERS = (
    "Pass usecols to read_csv, it reads only those columns.",
    "Set the labels before plt.show(), and call plt.legend() too.",
    "80/20 is common; use stratify when the classes are unbalanced.",
    "Use merge_asof with a tolerance, it matches the nearest time.",
)
# (who, offer, day as a share of the history): bought through /join and the demo checkout.
SALES: tuple[tuple[str, str, float], ...] = (
    ("bob", "pro", 0.1),
    ("discord:frank", "pro", 0.3),
    ("telegram:heidi", "pro", 0.45),
    ("discord:grace", "python-101", 0.5),
    ("discord:judy", "pro", 0.6),
    ("telegram:karl", "data-viz", 0.7),
    ("discord:liam", "pro", 0.8),
    ("telegram:mia", "pro", 0.9),
)
WARNED = ("dave", "carol", "bob")  # who the organizer warns, in turn (moderation figures)
CHECKOUT = re.compile(r"cs_demo_[0-9a-f]+")
# Messages per hour of the day, weekday evenings busiest (a shape for the heatmap).
HOUR_WEIGHTS = tuple(1 if h < 7 else 3 if h < 17 else 8 if h < 22 else 2 for h in range(24))


async def play_history(
    console: ConsoleAdapter, clock: ManualClock, days: int, organizer: str = "alice"
) -> int:
    """Type ``days`` days of chat from the clock's now on; return how many lines were typed.

    ``organizer`` schedules a weekly study hall on the third day; members say whether they
    come and check in with its code. The clock ends ``days`` days later than it started.
    """
    rng = random.Random(SEED)
    end = clock.now() + timedelta(days=days)
    first_day = clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
    threads = HISTORY_IDS
    typed = 0
    sessions: list[int] = []
    for day in range(days):
        morning = first_day + timedelta(days=day, hours=7)
        if day == 2 and days > 9 and morning > clock.now():
            clock.advance(morning - clock.now())
            sessions = await _schedule(console, organizer, (days - 3) // 7)
        week, weekday = divmod(day - 3, 7)
        if sessions and 0 <= week < len(sessions) and weekday in (6, 0):
            at = morning + timedelta(minutes=80 if weekday == 0 else -60)
            if at > clock.now():
                clock.advance(at - clock.now())
            if weekday == 6:  # the day before: who comes
                await _rsvp(console, rng, sessions[week + 1] if week + 1 < len(sessions) else 0)
            else:
                await _check_in(console, rng, organizer, sessions[week])
        moments: list[tuple[datetime, str]] = []
        share = day / days
        weekend = (first_day + timedelta(days=day)).weekday() >= 5
        for who, arrives, chatty in CAST:
            if share < arrives or share >= QUIET_AFTER.get(who, 2.0):
                continue
            for _ in range(rng.randint(0, round(chatty * (3 if weekend else 6)))):
                hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
                at = first_day + timedelta(days=day, hours=hour, minutes=rng.randint(0, 59))
                moments.append((at, who))
        for at, who in sorted(moments):
            if at >= end or at < clock.now():  # before the start, or after the end
                continue
            if at > clock.now():
                clock.advance(at - clock.now())
            await _say(console, who, "general", rng.choice(LINES))
            typed += 1
        if day == days // 2:  # Frank links his Telegram account to his Discord one
            await _link(console, "discord:frank", "telegram:frank")
            typed += 2
        for who, offer, when in SALES:
            if int(when * days) == day:
                await _buy(console, who, offer)
                typed += 2
        if day % 4 == 2 and day + 1 < days:  # a question, answered and accepted
            asker, helper = rng.sample(["bob", "carol", "dave"], 2)
            n = rng.randrange(len(QUESTIONS))
            at = first_day + timedelta(days=day, hours=20)
            if at > clock.now():
                clock.advance(at - clock.now())
            await _say(console, asker, "general", "/ask " + QUESTIONS[n])
            clock.advance(timedelta(minutes=rng.randint(5, 90)))
            await _say(console, helper, f"general/thread-{threads}", ANSWERS[n])
            if day % 8 == 2:  # every other question is solved
                clock.advance(timedelta(minutes=rng.randint(5, 60)))
                await _say(console, asker, f"general/thread-{threads}", f"/accept @{helper}")
            threads += 1
            typed += 3
        if day % 6 == 4 and day + 1 < days:  # the organizer warns someone off-topic
            at = first_day + timedelta(days=day, hours=21)
            if at > clock.now():
                clock.advance(at - clock.now())
            who = WARNED[(day // 6) % len(WARNED)]
            printed = await _said(console, organizer, f"/warn @{who} please keep the chat on topic")
            if "⚠️" not in printed:
                log.warning("demo: /warn @%s gave no case: %s", who, printed.strip()[-200:])
            typed += 1
    await console.cohort.dispatcher.drain()
    if clock.now() < end:
        clock.advance(end - clock.now())
    return typed


async def _say(console: ConsoleAdapter, who: str, where: str, line: str) -> None:
    for text in (f"/as {who}", f"/channel {where}", line):
        await console.handle_line(text)


async def _buy(console: ConsoleAdapter, who: str, offer: str) -> None:
    """Type /join as ``who`` and pay in the demo checkout, as a buyer would in the browser."""
    gating = console.cohort.entitlements
    if not isinstance(gating, Gating) or not isinstance(gating.gateway, DemoGateway):
        return  # not a demo (pretend payments) bot: no sales
    assert isinstance(console.out, io.StringIO)
    mark = len(console.out.getvalue())
    await _say(console, who, "general", f"/join {offer}")
    found = CHECKOUT.findall(console.out.getvalue()[mark:])
    if not found:
        log.warning("demo: /join %s as %s gave no checkout", offer, who)
        return
    now = console.cohort.clock.now()
    for kind, obj, created in gating.gateway.pay(found[-1]):
        event = envelope(kind, obj, created)
        await gating.store_event(event, json.dumps(event), now)
    await gating.run_due()


async def _said(console: ConsoleAdapter, who: str, line: str) -> str:
    """Type ``line`` as ``who`` in #general; return what the console printed for it."""
    assert isinstance(console.out, io.StringIO)
    mark = len(console.out.getvalue())
    await _say(console, who, "general", line)
    return console.out.getvalue()[mark:]


async def _schedule(console: ConsoleAdapter, organizer: str, weeks: int) -> list[int]:
    """Schedule the weekly study hall, a day from now; return its sessions' numbers."""
    line = f'/lecture schedule "Study hall" "in 1d" 1h speaker:Carol repeat:"weekly for {weeks}"'
    printed = await _said(console, organizer, line)
    found = re.search(r"#(\d+) to #(\d+)", printed)
    if found is None:
        log.warning("demo: the study hall was not scheduled: %s", printed.strip()[-200:])
        return []
    first, last = int(found.group(1)), int(found.group(2))
    sessions = list(range(first, last + 1))
    await _rsvp(console, random.Random(SEED), sessions[0])
    return sessions


async def _rsvp(console: ConsoleAdapter, rng: random.Random, session: int) -> None:
    """Have some members press Going or Maybe on ``session``."""
    if not session:
        return
    for who, _arrives, chatty in CAST:
        if rng.random() < chatty * 0.8:
            choice = "going" if rng.random() < 0.75 else "maybe"
            await _said(console, who, f"/press a|lectures.rsvp|{session}:{choice}")


async def _check_in(
    console: ConsoleAdapter, rng: random.Random, organizer: str, session: int
) -> None:
    """Read the session's code as the organizer, and check most of the members in with it."""
    printed = await _said(console, organizer, f"/lecture code {session}")
    found = re.search(r"`([^`]+)`", printed)
    if found is None:
        log.warning("demo: no check-in code for session %s: %s", session, printed.strip()[-200:])
        return
    for who, _arrives, chatty in CAST:
        if rng.random() < chatty * 0.7:
            await _said(console, who, f"/checkin {found.group(1)}")


async def _link(console: ConsoleAdapter, first: str, second: str) -> None:
    """Link ``second``'s account to ``first``'s member with /link, as a person would."""
    printed = await _said(console, first, "/link")
    found = re.search(r"/link ([A-Z2-9]{8})", printed)
    if found is None:
        log.warning("demo: /link gave no code: %s", printed.strip()[-200:])
        return
    await _said(console, second, f"/link {found.group(1)}")
    await _said(console, second, "Hello from Telegram too, same Frank!")
