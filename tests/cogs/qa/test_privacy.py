"""Q&A and erasure: a member's questions and accepted answers leave both search indexes."""

from __future__ import annotations

from sqlalchemy import insert, update

from bot.cogs import qa
from bot.cogs.qa._search import index_answer, index_question
from bot.core.cohort import Cohort
from bot.core.identity import Caller
from bot.core.platforms import PlatformName
from bot.core.privacy import Requester
from bot.store.tables import qa_answers, qa_questions
from tests.cogs.qa._helpers import BOB, CAROL

DAVE = Caller(PlatformName.CONSOLE, "dave", "Dave", username="dave")
ASKED = 5  # Bob's questions: all must go in one statement per index


async def ask(cohort: Cohort, asker: int, title: str) -> int:
    """Add an indexed question; return its id."""
    community = cohort.communities["demo"]
    now = cohort.clock.now()
    async with cohort.db.write() as conn:
        question = (
            await conn.execute(
                insert(qa_questions).values(
                    community_id=community.id,
                    asker_id=asker,
                    platform="console",
                    channel_id="general",
                    title=title,
                    body=f"{title} details",
                    state="open",
                    created_at=now,
                    active_at=now,
                )
            )
        ).inserted_primary_key[0]
        await index_question(conn, question, title, f"{title} details")
    return int(question)


async def accept(cohort: Cohort, question: int, author: int, text: str, n: int) -> None:
    """Add an answer by ``author`` and make it the accepted one, indexed."""
    community = cohort.communities["demo"]
    async with cohort.db.write() as conn:
        answer = (
            await conn.execute(
                insert(qa_answers).values(
                    community_id=community.id,
                    question_id=question,
                    author_id=author,
                    platform="console",
                    channel_id="general",
                    message_id=f"a{n}",
                    text=text,
                    posted_at=cohort.clock.now(),
                )
            )
        ).inserted_primary_key[0]
        await conn.execute(
            update(qa_questions)
            .where(qa_questions.c.id == question)
            .values(accepted_answer_id=answer, state="solved")
        )
        await index_answer(conn, question, text)


async def found(cohort: Cohort, query: str) -> list[str]:
    hits = await qa.search(cohort.db, cohort.communities["demo"].id, query)
    return sorted(hit.title for hit in hits)


async def test_erasing_a_member_empties_the_indexes_of_their_words(cohort: Cohort) -> None:
    cid = cohort.communities["demo"].id
    bob, carol, dave = [
        (await cohort.identity.resolve(cid, who)).member_id for who in (BOB, CAROL, DAVE)
    ]
    for n in range(ASKED):
        await ask(cohort, bob, f"sourdough {n}")
    own = await ask(cohort, bob, "kombucha")
    await accept(cohort, own, carol, "carol's scoby tip", 0)  # Carol's answer, Bob's question
    theirs = await ask(cohort, carol, "knitting")
    await accept(cohort, theirs, bob, "bob's purl trick 字", 1)
    other = await ask(cohort, dave, "rust")
    await accept(cohort, other, dave, "dave's borrow tip", 2)
    assert len(await found(cohort, "sourdough")) == ASKED
    assert await found(cohort, "purl") == await found(cohort, "字") == ["knitting"]

    await cohort.privacy.erase(cid, bob, Requester.SELF)

    for gone in ("sourdough", "kombucha", "scoby", "purl", "字"):
        assert await found(cohort, gone) == [], gone
    assert await found(cohort, "knitting") == ["knitting"]  # Carol's question stays
    assert await found(cohort, "borrow") == ["rust"]  # others' accepted answers stay
