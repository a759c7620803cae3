"""A console 'platform': one person plays any number of members in a local chat."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import stat
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO

from bot.adapters.console._render import render
from bot.core.buttons import read_int
from bot.core.cohort import Cohort
from bot.core.community import Community
from bot.core.errors import UserError
from bot.core.identity import Caller
from bot.core.parsing import tokenize
from bot.core.platforms import PlatformName
from bot.core.ports import (
    AccessTarget,
    ChannelRef,
    MessageRef,
    PlatformError,
    PlatformErrorReason,
    ScheduledEvent,
)
from bot.core.replies import Button, Reply

log = logging.getLogger(__name__)

DEFAULT_CHANNEL = "general"
THREAD_PREFIX = "thread-"
# A name like the ones ``create_thread`` prints: it means a thread, never a new channel.
THREAD_RE = re.compile(rf"^{THREAD_PREFIX}\d+$")


class ConsoleAdapter:
    """Implements the Platform port by printing, and reads what a person types as chat.

    ``/as discord:alice`` plays an account on a simulated Discord (or Telegram): a sibling
    adapter named for that platform, registered as it, whose output prints here too.
    """

    def __init__(
        self,
        cohort: Cohort,
        community: Community,
        *,
        user: str,
        out: TextIO,
        color: bool = False,
        echo: bool = False,
        files_dir: Path | None = None,
        log_file: Path | None = None,
        name: PlatformName = PlatformName.CONSOLE,
        first_id: int = 1,
    ) -> None:
        self.name = name
        self.cohort = cohort
        self.community = community
        self.user = user
        self.channel = DEFAULT_CHANNEL
        self.out = out
        self.color = color
        self.echo = echo
        self.stopping = False
        self.files_dir = files_dir
        self.log_file = log_file
        self.files: dict[str, bytes] = {}  # the latest file sent under each name
        self.buttons: dict[int, tuple[Button, ChannelRef]] = {}
        self.access: set[tuple[str, AccessTarget]] = set()
        self.pinned: set[MessageRef] = set()
        self.events: dict[str, ScheduledEvent] = {}  # the scheduled events that exist, by id
        self.threads: dict[str, str] = {}  # the channel of each thread opened, by thread id
        self.muted: dict[str, datetime] = {}  # who is muted, until when
        self.banned: set[str] = set()
        self._button_ids = itertools.count(1)
        # Where message and thread numbers start: a session that shares a database with an
        # earlier one (the demo's seeding) starts apart from it, so its ids stay its own.
        self._message_ids = itertools.count(first_id)
        self._thread_ids = itertools.count(first_id)
        self.simulated: dict[PlatformName, ConsoleAdapter] = {}
        self.acting: ConsoleAdapter = self  # the adapter whose account the person plays

    # --- what the person types -------------------------------------------------------------

    def t(self, key: str, **params: object) -> str:
        """Translate a console message into the community's language."""
        return self.cohort.i18n.plain(self.community.config.locale, key, **params)

    def caller(self, name: str | None = None) -> Caller:
        """Return the console member called ``name`` (default: the one being played)."""
        user = name or self.user
        return Caller(
            platform=self.name,
            user_id=user,
            display_name=user[:1].upper() + user[1:],
            username=user,
        )

    @property
    def here(self) -> ChannelRef:
        """Return the channel the person is in (``general/thread-1`` is a thread of general)."""
        channel, _, thread = self.channel.partition("/")
        return ChannelRef(self.name, channel, thread or None)

    def prompt(self) -> str:
        """Return the prompt shown before each line."""
        platform = "" if self.acting is self else f"{self.acting.name}:"
        return f"{platform}{self.user}@#{self.channel}> "

    def simulate(self, platform: PlatformName) -> ConsoleAdapter:
        """Return the simulated ``platform`` this console plays accounts on, made on first use.

        It is the cohort's adapter for that platform (where no real one runs), so what Cohort
        sends there, like access grants and private messages, prints in this console.
        """
        if platform is self.name:
            return self
        sibling = self.simulated.get(platform)
        if sibling is None:
            sibling = ConsoleAdapter(
                self.cohort,
                self.community,
                user=self.user,
                out=self.out,
                color=self.color,
                files_dir=self.files_dir,
                name=platform,
            )
            # One numbering of buttons, messages and threads across the console's platforms.
            sibling.buttons = self.buttons
            sibling._button_ids = self._button_ids
            sibling._message_ids = self._message_ids
            sibling._thread_ids = self._thread_ids
            sibling.threads = self.threads
            self.simulated[platform] = sibling
            self.cohort.platforms.setdefault(platform, sibling)
        return sibling

    async def handle_line(self, line: str) -> bool:
        """Act on one typed line; return False when the person wants to quit."""
        text = line.rstrip("\r\n")
        if not text.strip():
            return True
        if self.echo:
            self._print(self.prompt() + text)
        stripped = text.strip()
        if not stripped.startswith("/"):
            self.acting.user, self.acting.channel = self.user, self.channel
            await self.acting._post(text)
            return True
        word, _, rest = stripped[1:].partition(" ")
        match word.lower():
            case "quit" | "exit":
                return False
            case "as":
                self._switch_user(rest)
                return True
            case "channel":
                self._switch_channel(rest)
                return True
        actor = self.acting
        actor.user, actor.channel = self.user, self.channel
        if word.lower() == "press":
            await actor._press(rest)
        else:
            await self.cohort.dispatcher.run_line(
                actor, self.community, actor.caller(), actor.here, stripped, actor._respond
            )
        return True

    async def run(self, lines: AsyncIterator[str], *, interactive: bool = False) -> None:
        """Read lines until they end or the person quits."""
        self._print(self.t("console.welcome", user=self.user, community=self.community.config.name))
        if self.log_file is not None:
            self._print(self.t("console.log_file", path=str(self.log_file)))
        iterator = aiter(lines)
        while True:
            if interactive:
                self.out.write(self.prompt())
                self.out.flush()
            try:
                line = await anext(iterator)
            except StopAsyncIteration:
                break
            if self.stopping or not await self.handle_line(line):
                break

    def _switch_user(self, rest: str) -> None:
        try:
            words = [t.value for t in tokenize(rest)]
        except UserError:
            words = []
        word = words[0].lstrip("@") if words else ""
        where, colon, name = word.rpartition(":")
        platform = next((p for p in PlatformName if p.value == where.lower()), None)
        if colon and platform is None:
            name = ""
        if not name or not name.replace("_", "").isalnum() or len(name) > 32:
            self._print(self.t("console.as_usage"))
            return
        self.acting = self.simulate(platform or self.name)
        self.user = name.lower()
        if self.acting is self:
            self._print(self.t("console.as", user=self.user))
        else:
            self._print(self.t("console.as_platform", user=self.user, platform=self.acting.name))

    def _switch_channel(self, rest: str) -> None:
        """Move to a channel, ``channel/thread-N``, or a thread by the name the bot printed."""
        name = rest.strip().lstrip("#")
        if not name or len(name) > 64 or " " in name:
            self._print(self.t("console.channel_usage"))
            return
        if THREAD_RE.match(name):
            parent = self.threads.get(name)
            if parent is None:
                known = ", ".join(f"{c}/{t}" for t, c in self.threads.items()) or "-"
                self._print(self.t("console.no_thread", thread=name, threads=known))
                return
            name = f"{parent}/{name}"
        self.channel = name
        self._print(self.t("console.channel", channel=name))

    async def _press(self, rest: str) -> None:
        """Press button ``[n]`` of an earlier reply, or send callback data as a platform would."""
        number = rest.strip().lstrip("[").rstrip("]")
        if "|" in number:  # ``a|action|payload`` or ``s|id``: what Telegram or Discord sends back
            decoded = await self.cohort.buttons.decode(self.community.id, number)
            if decoded is None:
                self._print(self.t("console.no_button", number=number))
                return
            action, payload = decoded
            await self._run_action(self.here, action, payload)
            return
        button_number = read_int(number)
        entry = self.buttons.get(button_number) if button_number is not None else None
        if entry is None:
            self._print(self.t("console.no_button", number=number or "?"))
            return
        button, channel = entry
        if button.url:
            self._print(self.t("console.opens", url=button.url))
            return
        await self._run_action(channel, button.action, button.payload)

    async def _run_action(self, channel: ChannelRef, action: str, payload: str) -> None:
        await self.cohort.dispatcher.press(
            self, self.community, self.caller(), channel, action, payload, self._respond
        )

    async def _post(self, text: str) -> None:
        message_id = str(next(self._message_ids))
        await self.cohort.dispatcher.message_posted(
            self.community,
            self.caller(),
            self.here,
            message_id,
            text,
            self.cohort.clock.now(),
        )

    async def _respond(self, reply: Reply) -> MessageRef:
        prefix = self.t("console.only_you") + " " if reply.ephemeral else ""
        return self._show(self.here, reply, prefix=prefix)

    # --- output ----------------------------------------------------------------------------

    def _print(self, text: str) -> None:
        if self.name is not PlatformName.CONSOLE and not text.startswith(" "):
            text = f"[{self.name}] {text}"
        self.out.write(text + "\n")
        self.out.flush()

    def _show(self, channel: ChannelRef, reply: Reply, *, prefix: str = "") -> MessageRef:
        numbers = []
        for button in reply.buttons:
            number = next(self._button_ids)
            self.buttons[number] = (button, channel)
            numbers.append(number)
        body = render(reply, button_numbers=numbers, color=self.color)
        message_id = str(next(self._message_ids))
        where = f"#{channel.channel_id}" + (f"/{channel.thread_id}" if channel.thread_id else "")
        self._print(f"{prefix}[{where}] cohort:")
        for line in body.splitlines() or [""]:
            self._print(f"  {line}")
        if reply.attachment is not None:
            self._keep(reply.attachment.filename, reply.attachment.data)
        return MessageRef(channel, message_id)

    def _keep(self, filename: str, data: bytes) -> None:
        name = Path(filename).name or "file"
        self.files[name] = data
        if self.files_dir is not None:
            self.files_dir.mkdir(parents=True, exist_ok=True)
            path = self.files_dir / name
            path.write_bytes(data)
            self._print(f"  {self.t('console.saved', path=str(path))}")

    # --- the Platform port -----------------------------------------------------------------

    async def send(self, channel: ChannelRef, reply: Reply) -> MessageRef:
        """Print ``reply`` as posted in ``channel``."""
        return self._show(channel, reply)

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        """Print the new content of an edited message."""
        self._show(message.channel, reply, prefix=self.t("console.edited", id=message.message_id))

    async def delete(self, message: MessageRef) -> None:
        """Print that a message was deleted."""
        self._print(self.t("console.deleted", id=message.message_id))

    async def direct_message(self, user_id: str, reply: Reply) -> MessageRef:
        """Print ``reply`` as a private message to ``user_id``."""
        return self._show(ChannelRef(self.name, f"dm-{user_id}"), reply)

    async def create_thread(
        self, channel: ChannelRef, title: str, reply: Reply, *, tags: tuple[str, ...] = ()
    ) -> ChannelRef:
        """Open a numbered thread in ``channel`` and post ``reply`` in it."""
        thread_id = f"{THREAD_PREFIX}{next(self._thread_ids)}"
        thread = ChannelRef(self.name, channel.channel_id, thread_id)
        self.threads[thread_id] = channel.channel_id
        suffix = f" [{', '.join(tags)}]" if tags else ""
        self._print(self.t("console.thread", title=title + suffix, thread=thread.thread_id))
        self._show(thread, reply)
        return thread

    async def close_thread(self, thread: ChannelRef, *, lock: bool = False) -> None:
        """Print that a thread was closed."""
        self._print(self.t("console.thread_closed", thread=thread.thread_id or "?"))

    async def rename_thread(self, thread: ChannelRef, title: str) -> None:
        """Print a thread's new title."""
        self._print(self.t("console.thread_renamed", thread=thread.thread_id or "?", title=title))

    async def pin(self, message: MessageRef) -> None:
        """Record and print that a message is pinned."""
        self.pinned.add(message)
        self._print(self.t("console.pinned", message=message.message_id))

    async def unpin(self, message: MessageRef) -> None:
        """Record and print that a message is no longer pinned."""
        self.pinned.discard(message)
        self._print(self.t("console.unpinned", message=message.message_id))

    async def grant_access(self, user_id: str, target: AccessTarget) -> None:
        """Record and print that ``user_id`` may enter ``target``."""
        self.access.add((user_id, target))
        self._print(self.t("console.granted", user=user_id, target=_target(target)))

    async def revoke_access(self, user_id: str, target: AccessTarget) -> None:
        """Record and print that ``user_id`` may no longer enter ``target``."""
        self.access.discard((user_id, target))
        self._print(self.t("console.revoked", user=user_id, target=_target(target)))

    async def create_invite(
        self,
        target: AccessTarget,
        *,
        expires_at: datetime | None = None,
        member_limit: int | None = 1,
        join_request: bool = False,
    ) -> str:
        """Return a pretend invite link into ``target``."""
        return f"console://invite/{target.space_id}/{next(self._message_ids)}"

    async def approve_join_request(self, space_id: str, user_id: str) -> None:
        """Print that a join request was approved."""
        self._print(self.t("console.join_approved", user=user_id, space=space_id))

    async def decline_join_request(self, space_id: str, user_id: str) -> None:
        """Print that a join request was declined."""
        self._print(self.t("console.join_declined", user=user_id, space=space_id))

    async def remove_member(self, space_id: str, user_id: str) -> None:
        """Print that a member was removed."""
        self._print(self.t("console.removed", user=user_id, space=space_id))

    async def create_scheduled_event(self, space_id: str, event: ScheduledEvent) -> str:
        """Print a scheduled event and return its id."""
        if event.end <= event.start:
            raise PlatformError(PlatformErrorReason.INVALID, "event ends before it starts")
        event_id = f"event-{next(self._message_ids)}"
        self.events[event_id] = event
        self._print(self.t("console.event", title=event.title, start=event.start.isoformat()))
        return event_id

    async def edit_scheduled_event(
        self, space_id: str, event_id: str, event: ScheduledEvent
    ) -> None:
        """Print a scheduled event's new title and time."""
        if event_id not in self.events:
            raise PlatformError(PlatformErrorReason.NOT_FOUND, f"no event {event_id}")
        if event.end <= event.start:
            raise PlatformError(PlatformErrorReason.INVALID, "event ends before it starts")
        self.events[event_id] = event
        self._print(
            self.t(
                "console.event_edited",
                id=event_id,
                title=event.title,
                start=event.start.isoformat(),
            )
        )

    async def delete_scheduled_event(self, space_id: str, event_id: str) -> None:
        """Print that a scheduled event was deleted."""
        if self.events.pop(event_id, None) is None:
            raise PlatformError(PlatformErrorReason.NOT_FOUND, f"no event {event_id}")
        self._print(self.t("console.event_deleted", id=event_id))

    async def timeout_member(self, space_id: str, user_id: str, until: datetime | None) -> None:
        """Record and print that a member is muted until ``until`` (None: unmuted)."""
        if until is None:
            self.muted.pop(user_id, None)
            self._print(self.t("console.unmuted", user=user_id))
        else:
            self.muted[user_id] = until
            self._print(self.t("console.muted", user=user_id, until=until.isoformat()))

    async def ban_member(self, space_id: str, user_id: str, *, delete_days: int = 0) -> None:
        """Record and print that a member is banned."""
        self.banned.add(user_id)
        self._print(self.t("console.banned", user=user_id))

    async def unban_member(self, space_id: str, user_id: str) -> None:
        """Record and print that a ban is lifted."""
        self.banned.discard(user_id)
        self._print(self.t("console.unbanned", user=user_id))

    async def delete_messages(self, channel: ChannelRef, message_ids: Sequence[str]) -> None:
        """Print that messages were deleted."""
        self._print(self.t("console.bulk_deleted", count=len(message_ids)))

    async def set_slowmode(self, channel: ChannelRef, seconds: int) -> bool:
        """Leave slowmode to the bot (the console has none of its own)."""
        return False


def _target(target: AccessTarget) -> str:
    return f"{target.space_id}/{target.role_id}" if target.role_id else target.space_id


async def iterate(lines: Iterable[str]) -> AsyncIterator[str]:
    """Yield lines from a list or an open file."""
    for line in lines:
        yield line


async def stdin_lines() -> AsyncIterator[str]:
    """Yield lines from standard input without blocking the event loop."""
    fd = sys.stdin.fileno()
    if stat.S_ISREG(os.fstat(fd).st_mode):
        for line in sys.stdin:
            yield line
        return
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    try:
        while True:
            raw = await reader.readline()
            if not raw:
                return
            yield raw.decode("utf-8", errors="replace")
    finally:
        transport.close()
