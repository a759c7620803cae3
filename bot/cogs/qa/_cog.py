"""The Q&A commands, buttons and listeners; the rules live in _service, _bounty and _states."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.cogs.qa import _bounty as bounties
from bot.cogs.qa import _search as search
from bot.cogs.qa import _service as service
from bot.cogs.qa import _store as store
from bot.cogs.qa import _votes as votes
from bot.cogs.qa._ask import parse_question
from bot.cogs.qa._bounty import Paid
from bot.cogs.qa._states import State, Why
from bot.cogs.qa._stats import summary, top_answerers
from bot.cogs.qa._store import Question
from bot.cogs.qa._voice import Voice, forum_for
from bot.core.buttons import payload_fields, payload_int
from bot.core.cohort import Cohort
from bot.core.commands import ActionSpec, Choice, CommandSpec, Option, OptionKind, Role
from bot.core.community import Community
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.events import MemberLeft, MessageDeleted, MessagePosted, ReactionChanged
from bot.core.identity import Account
from bot.core.platforms import PlatformName
from bot.core.ports import ChannelRef, MessageRef, PlatformError, PlatformErrorReason
from bot.core.replies import Reply

log = logging.getLogger(__name__)

NO_THREADS = frozenset({PlatformErrorReason.INVALID, PlatformErrorReason.UNSUPPORTED})
CLOSE_REASONS = (Why.DUPLICATE, Why.OFF_TOPIC, Why.OTHER)
STATS_TOP = 5


def _span(ctx: Context, value: timedelta | None) -> str | None:
    """Write a median time to the minute (``2 hours 15 minutes``), or None when there is none."""
    if value is None:
        return None
    return ctx.duration(timedelta(minutes=max(1, round(value.total_seconds() / 60))))


class QaCog:
    """Questions in threads, answers from their messages, accepting, bounties and search."""

    def __init__(self, cohort: Cohort) -> None:
        self.cohort = cohort
        self.voice = Voice(cohort)

    # --- helpers --------------------------------------------------------------------------------

    async def _question(self, ctx: Context, question_id: int | None) -> Question:
        found = await store.find(
            self.cohort.db,
            ctx.community.id,
            ctx.channel,
            question_id,
            replied=ctx.replied_message_id,
        )
        if found is None:
            if question_id is not None:
                raise UserError("qa.unknown", id=question_id)
            raise UserError("qa.where")
        return found

    @staticmethod
    def _moderator(ctx: Context) -> bool:
        return ctx.role in (Role.ORGANIZER, Role.ADMIN)

    # --- /ask ----------------------------------------------------------------------------------

    async def ask(self, ctx: Context, question: str) -> Reply:
        """Open a question in its own thread (a forum post, a topic, or a reply chain)."""
        draft = parse_question(question)
        forum = forum_for(ctx.community, ctx.platform.name)
        if forum is None and ctx.channel is not None:
            forum = ChannelRef(ctx.channel.platform, ctx.channel.channel_id)
        if forum is None:
            raise UserError("qa.ask.nowhere")
        db, now = self.cohort.db, ctx.now()
        question_id = await service.ask(db, ctx.community, ctx.member.id, draft, now)
        opening = Reply(
            title=draft.title,
            text=self.voice.say(
                ctx.community,
                "qa.opening",
                id=question_id,
                name=ctx.account.display_name,
                body=draft.body or "—",
                tags=" ".join(f"#{t}" for t in draft.tags) or "—",
            ),
        )
        try:
            thread = await ctx.platform.create_thread(forum, draft.title, opening, tags=draft.tags)
            first: str | None = None
        except PlatformError as exc:
            if exc.reason not in NO_THREADS:
                await service.discard(db, question_id)
                log.warning("qa: no thread for question %s in %s: %s", question_id, forum, exc)
                raise UserError("qa.ask.failed") from exc
            try:  # a group without topics: the question becomes a tracked reply chain
                sent = await ctx.platform.send(forum, opening)
            except PlatformError as again:
                await service.discard(db, question_id)
                log.warning("qa: could not post question %s in %s: %s", question_id, forum, again)
                raise UserError("qa.ask.failed") from again
            thread, first = forum, sent.message_id
        await service.attach(db, ctx.community.id, question_id, thread, first)
        if first is not None and ctx.community.config.qa.pin_questions:
            await self.voice.pin(ctx.platform, MessageRef(thread, first), pinned=True)
        key = "qa.ask.done" if thread.thread_id else "qa.ask.done_chain"
        return Reply(text=ctx.t(key, id=question_id, title=draft.title), ephemeral=True)

    # --- accepting and closing -------------------------------------------------------------------

    async def accept(
        self, ctx: Context, member: Account | None = None, question: int | None = None
    ) -> Reply:
        """Accept the replied-to (or named) member's answer, or list the answers as buttons."""
        found = await self._question(ctx, question)
        if ctx.member.id != found.asker_id and not self._moderator(ctx):
            raise UserError("qa.not_yours")
        if found.state in (State.SOLVED, State.CLOSED):
            key = "qa.already_solved" if found.state is State.SOLVED else "qa.already_closed"
            raise UserError(key, id=found.id)
        if member is not None:
            answer = await store.latest_answer_by(
                self.cohort.db, found.id, member.member_id, message_id=ctx.replied_message_id
            )
            if answer is None:
                raise UserError("qa.accept.none_by", name=member.display_name)
            return await self._accept(ctx, found, answer.id)
        answers = await store.answers_of(self.cohort.db, found.id)
        if not answers:
            raise UserError("qa.accept.none_yet")
        return Reply(
            text=ctx.t("qa.accept.pick", title=found.title),
            buttons=await self.voice.answer_buttons(found, answers, ctx.account.platform.value),
            ephemeral=True,
        )

    async def pick(self, ctx: Context, payload: str) -> Reply:
        """Accept the answer a button names."""
        question_id, answer_id = (payload_int(f) for f in payload_fields(payload, 2))
        found = await store.get(self.cohort.db, ctx.community.id, question_id)
        if found is None:
            raise UserError("qa.unknown", id=question_id)
        return await self._accept(ctx, found, answer_id)

    async def _accept(self, ctx: Context, question: Question, answer_id: int) -> Reply:
        paid = await service.accept(
            self.cohort.db,
            ctx.community,
            question.id,
            answer_id,
            actor_id=ctx.member.id,
            moderator=self._moderator(ctx),
            at=ctx.now(),
        )
        assert paid.answer is not None
        name = await self.voice.name(paid.answer.author_id, question.platform)
        await self._conclude(
            ctx.community,
            paid,
            self.voice.say(
                ctx.community,
                "qa.accepted",
                name=name,
                points=paid.accepted_points + paid.bounty_paid,
            ),
        )
        return Reply(text=ctx.t("qa.accept.done", id=question.id, name=name), ephemeral=True)

    async def _conclude(self, community: Community, paid: Paid, text: str) -> None:
        """Say how the question ended in its thread, mark its title and close the thread."""
        question = paid.question
        await self.voice.post(question.thread, text)
        platform = self.cohort.platforms.get(PlatformName(question.platform))
        if platform is None:
            return
        if question.thread_id is None:
            if question.opening_message_id and community.config.qa.pin_questions:
                opening = MessageRef(question.thread, question.opening_message_id)
                await self.voice.pin(platform, opening, pinned=False)
            return
        prefix = "qa.title_solved" if question.state is State.SOLVED else "qa.title_closed"
        try:
            await platform.rename_thread(
                question.thread, self.voice.say(community, prefix, title=question.title)
            )
            await platform.close_thread(question.thread, lock=question.state is State.CLOSED)
        except PlatformError as exc:
            log.warning("qa: could not close the thread of question %s: %s", question.id, exc)

    async def solved(
        self, ctx: Context, member: Account | None = None, question: int | None = None
    ) -> Reply:
        """Accept the replied-to member's answer, or mark the question solved as it is."""
        if member is not None:
            return await self.accept(ctx, member, question)
        found = await self._question(ctx, question)
        paid = await service.mark_solved(
            self.cohort.db,
            ctx.community,
            found.id,
            actor_id=ctx.member.id,
            moderator=self._moderator(ctx),
            at=ctx.now(),
        )
        await self._conclude(
            ctx.community,
            paid,
            self.voice.say(ctx.community, "qa.marked_solved", refunded=paid.bounty_refunded),
        )
        return Reply(text=ctx.t("qa.solved.done", id=found.id), ephemeral=True)

    async def close(self, ctx: Context, reason: str, question: int | None = None) -> Reply:
        """Close a question as a duplicate, off-topic or for another reason."""
        found = await self._question(ctx, question)
        why = Why(reason)
        paid = await service.close(
            self.cohort.db,
            ctx.community,
            found.id,
            why,
            actor_id=ctx.member.id,
            moderator=self._moderator(ctx),
            at=ctx.now(),
        )
        label = self.cohort.i18n.plain(ctx.community.config.locale, f"qa.reason.{why.value}")
        await self._conclude(
            ctx.community,
            paid,
            self.voice.say(ctx.community, "qa.closed", reason=label, refunded=paid.bounty_refunded),
        )
        return Reply(text=ctx.t("qa.close.done", id=found.id), ephemeral=True)

    async def bounty(self, ctx: Context, amount: int, question: int | None = None) -> Reply:
        """Stake some of the asker's points on their question."""
        found = await self._question(ctx, question)
        staked = await bounties.stake(
            self.cohort.db, ctx.community, found.id, amount, actor_id=ctx.member.id, at=ctx.now()
        )
        locale = ctx.community.config.locale
        within = self.cohort.i18n.duration(locale, ctx.community.config.qa.bounty_after)
        await self.voice.post(
            staked.thread,
            self.voice.say(ctx.community, "qa.bounty.posted", amount=amount, within=within),
        )
        return Reply(text=ctx.t("qa.bounty.done", amount=amount, id=found.id), ephemeral=True)

    # --- listing and search ----------------------------------------------------------------------

    def _lines(self, ctx: Context, questions: list[Question]) -> list[str]:
        return [
            ctx.t(
                "qa.list.line",
                id=q.id,
                title=q.title,
                state=ctx.plain(f"qa.state.{q.state.value}"),
                date=q.created_at.astimezone(ctx.tz).strftime("%Y-%m-%d"),
            )
            for q in questions
        ]

    async def search(self, ctx: Context, words: str) -> Reply:
        """Find questions by words in their title, details or accepted answer."""
        hits = await search.search(self.cohort.db, ctx.community.id, words)
        if not hits:
            return Reply(text=ctx.t("qa.search.none", words=words), ephemeral=True)
        lines = [
            ctx.t(
                "qa.list.line",
                id=h.id,
                title=h.title,
                state=ctx.plain(f"qa.state.{h.state.value}"),
                date=h.created_at.astimezone(ctx.tz).strftime("%Y-%m-%d"),
            )
            for h in hits
        ]
        return Reply(title=ctx.plain("qa.search.title", words=words), text="\n".join(lines))

    async def open_questions(self, ctx: Context) -> Reply:
        """List the unanswered questions, oldest first."""
        found = await store.listing(self.cohort.db, ctx.community.id)
        text = "\n".join(self._lines(ctx, found)) or ctx.t("qa.list.no_open")
        return Reply(title=ctx.plain("qa.list.open_title"), text=text)

    async def mine(self, ctx: Context) -> Reply:
        """List the caller's questions, newest first."""
        found = await store.listing(self.cohort.db, ctx.community.id, asker_id=ctx.member.id)
        text = "\n".join(self._lines(ctx, found)) or ctx.t("qa.list.none_mine")
        return Reply(title=ctx.plain("qa.list.mine_title"), text=text, ephemeral=True)

    async def stats(self, ctx: Context, days: int = 30) -> Reply:
        """Show how questions fared lately: answers, solving times, top answerers."""
        until = ctx.now()
        since = until - timedelta(days=days)
        fared = await summary(self.cohort.db, ctx.community.id, since, until)
        top = await top_answerers(self.cohort.db, ctx.community.id, since, until, limit=STATS_TOP)
        none = ctx.plain("qa.stats.no_time")
        lines = [
            ctx.t(
                "qa.stats.counts",
                asked=fared.asked,
                answered=fared.answered,
                percent=round(fared.answered_ratio * 100),
                solved=fared.solved,
                closed=fared.closed,
            ),
            ctx.t(
                "qa.stats.times",
                first=_span(ctx, fared.median_first_answer) or none,
                solve=_span(ctx, fared.median_solve) or none,
            ),
        ]
        if top:
            lines.append(ctx.t("qa.stats.top"))
            platform = ctx.account.platform.value
            for rank, answerer in enumerate(top, start=1):
                lines.append(
                    ctx.t(
                        "qa.stats.answerer",
                        rank=rank,
                        name=await self.voice.name(answerer.member_id, platform),
                        accepted=answerer.accepted,
                        answers=answerer.answers,
                    )
                )
        return Reply(title=ctx.plain("qa.stats.title", count=days), text="\n".join(lines))

    # --- events ----------------------------------------------------------------------------------

    @staticmethod
    def wants_message(event: MessagePosted) -> bool:
        """Tell whether a message can belong to a question: in a thread, or a reply."""
        return event.channel.thread_id is not None or event.reply_to_message_id is not None

    async def on_message(self, event: MessagePosted) -> None:
        """Record an answer (or the asker's follow-up) in a question's thread or reply chain."""
        await service.posted(
            self.cohort.db,
            event.community,
            author_id=event.account.member_id,
            where=event.channel,
            message_id=event.message_id,
            reply_to=event.reply_to_message_id,
            text=event.text,
            at=event.posted_at,
        )

    async def on_deleted(self, event: MessageDeleted) -> None:
        """Close a question whose thread went; take an answer's points back when it went."""
        outcome = await service.deleted(
            self.cohort.db,
            event.community,
            event.channel,
            event.message_id,
            self.cohort.clock.now(),
        )
        if outcome is not None:
            log.info(
                "qa: question %s after a deletion: %s", outcome.question.id, outcome.question.state
            )

    async def on_reaction(self, event: ReactionChanged) -> None:
        """Count a vote emoji on an answer (or take it back)."""
        await votes.vote(
            self.cohort.db,
            event.community,
            event.account.member_id,
            event.channel,
            event.message_id,
            event.emoji,
            added=event.added,
            at=self.cohort.clock.now(),
        )

    async def on_left(self, event: MemberLeft) -> None:
        """Stop chasing an asker who left; moderators can still accept for them."""
        await service.asker_left(
            self.cohort.db, event.community.id, event.account.member_id, self.cohort.clock.now()
        )

    # --- specs -----------------------------------------------------------------------------------

    def actions(self) -> tuple[ActionSpec, ...]:
        """Return the Q&A button actions."""
        return (ActionSpec("qa.accept", self.pick),)

    def commands(self) -> tuple[CommandSpec, ...]:
        """Return the Q&A command specs."""
        member = Option("member", OptionKind.MEMBER, "qa.option.member", required=False)
        question = Option(
            "question",
            OptionKind.INTEGER,
            "qa.option.question",
            required=False,
            min_value=1,
            max_value=10**12,
        )
        return (
            CommandSpec(
                "ask",
                "qa.ask.description",
                self.ask,
                options=(Option("question", OptionKind.TEXT, "qa.option.ask", max_length=4000),),
            ),
            CommandSpec("accept", "qa.accept.description", self.accept, options=(member, question)),
            CommandSpec("solved", "qa.solved.description", self.solved, options=(member, question)),
            CommandSpec(
                "close",
                "qa.close.description",
                self.close,
                options=(
                    Option(
                        "reason",
                        OptionKind.CHOICE,
                        "qa.option.reason",
                        choices=tuple(
                            Choice(w.value, f"qa.reason.{w.value}") for w in CLOSE_REASONS
                        ),
                    ),
                    question,
                ),
            ),
            CommandSpec(
                "bounty",
                "qa.bounty.description",
                self.bounty,
                options=(
                    Option(
                        "amount",
                        OptionKind.INTEGER,
                        "qa.option.amount",
                        min_value=1,
                        max_value=1_000_000,
                    ),
                    question,
                ),
            ),
            CommandSpec(
                "questions search",
                "qa.search.description",
                self.search,
                options=(Option("words", OptionKind.TEXT, "qa.option.words", max_length=200),),
            ),
            CommandSpec(
                "questions open", "qa.list.open_description", self.open_questions, default=True
            ),
            CommandSpec("questions mine", "qa.list.mine_description", self.mine),
            CommandSpec(
                "questions stats",
                "qa.stats.description",
                self.stats,
                options=(
                    Option(
                        "days",
                        OptionKind.INTEGER,
                        "qa.option.days",
                        required=False,
                        min_value=1,
                        max_value=365,
                    ),
                ),
            ),
        )
