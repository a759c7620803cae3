"""The data-rights registry: every member column has a holding; export and erase round trip."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import String, Text, func, insert, select, text

from bot.cogs import points
from bot.cogs.qa._search import index_question
from bot.core.cohort import Cohort
from bot.core.identity import Caller, member_columns
from bot.core.platforms import PlatformName
from bot.core.privacy import CORE_HOLDINGS, Erase, Holding, Privacy, Requester
from bot.store.tables import (
    access_sources,
    accounts,
    gating_audit,
    lecture_attendance,
    lecture_occurrences,
    lecture_rsvps,
    lectures,
    members,
    message_days,
    message_log,
    metadata,
    points_balances,
    points_ledger,
    privacy_erasures,
    purchases,
    qa_answers,
    qa_questions,
    qa_votes,
    recommend_prefs,
    stripe_customers,
)

BOB = Caller(PlatformName.TELEGRAM, "4242", "Bobby Tables", username="bobby_t")
CAROL = Caller(PlatformName.TELEGRAM, "4343", "Carol", username="carol")
# What only Bob's rows say: none of it may be left anywhere once he is erased.
PERSONAL = ("Bobby Tables", "bobby_t", "4242", "knitting", "Why does my sourdough sink?")


def test_every_member_column_has_a_holding(cohort: Cohort) -> None:
    assert cohort.privacy.unclaimed() == []


def test_a_member_column_without_a_holding_is_named(cohort: Cohort) -> None:
    bare = Privacy(cohort.db, cohort.clock, cohort.identity)
    missing = bare.unclaimed()
    assert "purchases.member_id" in missing and "points_ledger.actor_id" in missing
    assert {h.key for h in CORE_HOLDINGS}.isdisjoint(missing)
    assert len(missing) == len(member_columns()) - len(CORE_HOLDINGS)


def test_a_column_declared_twice_is_an_error(cohort: Cohort) -> None:
    with pytest.raises(ValueError, match="declared twice"):
        cohort.privacy.declare(Holding(purchases.c.member_id, Erase.DELETE, "again"))


@pytest.mark.parametrize(
    ("holding_args", "message"),
    [
        ((purchases.c.member_id, Erase.DETACH, "x"), "nullable"),
        ((purchases.c.member_id, Erase.ANONYMISE, "x", {"offer_id": ""}), "scrubbed"),
        ((qa_answers.c.author_id, Erase.DELETE, "x", {"text": ""}), "scrubbed"),
        ((qa_answers.c.author_id, Erase.KEEP_AGGREGATE, "x", {"txt": ""}), "no column txt"),
    ],
)
def test_holdings_refuse_policies_that_cannot_work(
    holding_args: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Holding(*holding_args)


async def seed(cohort: Cohort) -> tuple[int, int]:
    """Give Bob rows in most tables (and Carol an answer to his question); return both ids."""
    community = cohort.communities["demo"]
    cid, now = community.id, cohort.clock.now()
    bob = (await cohort.identity.resolve(cid, BOB)).member_id
    carol = (await cohort.identity.resolve(cid, CAROL)).member_id
    bob_account = (await cohort.identity.accounts_of(bob))[0].id
    await points.award(cohort.db, community, bob, 30, points.Reason.MANUAL, "m1", at=now)
    await points.award(
        cohort.db, community, carol, 5, points.Reason.MANUAL, "m2", at=now, actor_id=bob
    )
    async with cohort.db.write() as conn:
        for n, text in enumerate(("I love knitting", "knitting again")):
            await conn.execute(
                insert(message_log).values(
                    community_id=cid,
                    member_id=bob,
                    account_id=bob_account,
                    platform="telegram",
                    channel_id="-100",
                    message_id=str(n),
                    text=text,
                    posted_at=now,
                )
            )
        for ref, amount in (("cs_1", 4900), ("cs_2", 1500)):
            await conn.execute(
                insert(purchases).values(
                    community_id=cid,
                    member_id=bob,
                    offer_id="gold",
                    source="stripe",
                    source_ref=ref,
                    amount_minor=amount,
                    currency="eur",
                    purchased_at=now,
                )
            )
        await conn.execute(
            insert(stripe_customers).values(
                community_id=cid, member_id=bob, customer_id="cus_1", livemode=False, created_at=now
            )
        )
        await conn.execute(
            insert(access_sources).values(
                community_id=cid,
                member_id=bob,
                offer_id="gold",
                kind="subscription",
                ref="sub_1",
                status="active",
                cancel_at_period_end=False,
                refunded=False,
                disputed=False,
                version=1,
                entitled=True,
                created_at=now,
                updated_at=now,
            )
        )
        await conn.execute(
            insert(gating_audit).values(
                community_id=cid,
                member_id=bob,
                action="purchase",
                offer_id="gold",
                ref="cs_1",
                created_at=now,
            )
        )
        question = (
            await conn.execute(
                insert(qa_questions).values(
                    community_id=cid,
                    asker_id=bob,
                    platform="telegram",
                    channel_id="-100",
                    title="Why does my sourdough sink?",
                    body="Why does my sourdough sink? It is flat.",
                    state="open",
                    created_at=now,
                    active_at=now,
                )
            )
        ).inserted_primary_key[0]
        await index_question(
            conn, question, "Why does my sourdough sink?", "Why does my sourdough sink?"
        )
        answer = (
            await conn.execute(
                insert(qa_answers).values(
                    community_id=cid,
                    question_id=question,
                    author_id=carol,
                    platform="telegram",
                    channel_id="-100",
                    message_id="a1",
                    text="Feed the starter longer.",
                    posted_at=now,
                )
            )
        ).inserted_primary_key[0]
        await conn.execute(
            insert(qa_votes).values(
                community_id=cid, answer_id=answer, voter_id=bob, emoji="👍", voted_at=now
            )
        )
        lecture = (
            await conn.execute(
                insert(lectures).values(
                    community_id=cid,
                    title="Bread",
                    timezone="UTC",
                    start_at=now,
                    duration_s=3600,
                    created_at=now,
                    updated_at=now,
                )
            )
        ).inserted_primary_key[0]
        occurrence = (
            await conn.execute(
                insert(lecture_occurrences).values(
                    community_id=cid,
                    lecture_id=lecture,
                    original_start=now,
                    start_at=now,
                    duration_s=3600,
                    title="Bread",
                    status="scheduled",
                    checkin_code="K1",
                    announce_at=now,
                    scheduled_at=now,
                )
            )
        ).inserted_primary_key[0]
        await conn.execute(
            insert(lecture_rsvps).values(
                community_id=cid,
                occurrence_id=occurrence,
                member_id=bob,
                status="going",
                platform="telegram",
                since=now,
            )
        )
        await conn.execute(
            insert(lecture_attendance).values(
                community_id=cid, occurrence_id=occurrence, member_id=bob, method="code", at=now
            )
        )
        await conn.execute(
            insert(recommend_prefs).values(
                community_id=cid,
                member_id=bob,
                use_messages=False,
                digest=True,
                last_digest="python",
                updated_at=now,
            )
        )
    return bob, carol


async def every_text(cohort: Cohort) -> str:
    """Return every text value in every table, as one string to search."""
    found: list[str] = []
    async with cohort.db.read() as conn:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text)]
            if columns:
                for row in await conn.execute(select(*columns)):
                    found.extend(str(v) for v in row if v is not None)
        # The Q&A search indexes: FTS5 tables on SQLite, one table on PostgreSQL.
        sqlite = conn.dialect.name == "sqlite"
        for index in ("qa_search", "qa_words") if sqlite else ("qa_search",):
            for row in await conn.execute(text(f"SELECT title, body, answer FROM {index}")):
                found.extend(str(v) for v in row)
    return "\n".join(found)


async def test_export_then_erase_round_trip(cohort: Cohort) -> None:
    bob, carol = await seed(cohort)
    exported = await cohort.privacy.export(bob)
    text = json.dumps(exported, ensure_ascii=False)
    assert all(p in text for p in PERSONAL)
    held = set(exported["data"])
    assert {
        "accounts.member_id",
        "message_log.member_id",
        "points_ledger.member_id",
        "points_ledger.actor_id",
        "purchases.member_id",
        "access_sources.member_id",
        "qa_questions.asker_id",
        "qa_votes.voter_id",
        "lecture_rsvps.member_id",
        "lecture_attendance.member_id",
        "recommend_prefs.member_id",
    } <= held
    async with cohort.db.read() as conn:
        paid_before = await conn.scalar(select(func.sum(purchases.c.amount_minor)))
    before = await every_text(cohort)
    assert all(p in before for p in PERSONAL)  # the search below would find them

    report = await cohort.privacy.erase(cohort.communities["demo"].id, bob, Requester.SELF)

    everything = await every_text(cohort)
    assert not [p for p in PERSONAL if p in everything]
    with pytest.raises(LookupError):
        await cohort.privacy.export(bob)
    anonymous = report.anonymous_id
    assert anonymous is not None
    left = await cohort.privacy.export(anonymous)
    assert not [p for p in PERSONAL if p in json.dumps(left, ensure_ascii=False)]
    assert set(left["data"]) == {
        "purchases.member_id",
        "stripe_customers.member_id",
        "access_sources.member_id",
        "gating_audit.member_id",
        "qa_questions.asker_id",
        "qa_votes.voter_id",
        "lecture_attendance.member_id",
    }
    async with cohort.db.read() as conn:
        assert await conn.scalar(select(func.sum(purchases.c.amount_minor))) == paid_before
        assert await conn.scalar(select(func.count()).where(members.c.id == bob)) == 0
        assert await conn.scalar(select(func.count()).where(accounts.c.member_id == bob)) == 0
        # Carol keeps her answer and her points; the points Bob gave her no longer name him.
        assert await conn.scalar(select(qa_answers.c.text)) == "Feed the starter longer."
        assert (
            await conn.execute(select(points_ledger.c.member_id, points_ledger.c.actor_id))
        ).all() == [(carol, None)]
        assert await conn.scalar(select(func.count()).select_from(points_balances)) == 1
        assert await conn.scalar(select(message_days.c.messages)) == 2
        erasure = (await conn.execute(select(privacy_erasures))).one()._mapping
    assert erasure["requester"] == "self" and erasure["anonymous_id"] == anonymous
    assert json.loads(erasure["counts"])["message_log.member_id"] == 2
    assert report.counts["points_ledger.actor_id"] == 1


async def test_a_later_message_makes_a_new_member(cohort: Cohort) -> None:
    bob, _ = await seed(cohort)
    cid = cohort.communities["demo"].id
    await cohort.privacy.erase(cid, bob, Requester.ORGANIZER)
    again = await cohort.identity.resolve(cid, BOB)
    assert again.member_id != bob


async def test_erasing_an_unknown_member_changes_nothing(cohort: Cohort) -> None:
    with pytest.raises(LookupError):
        await cohort.privacy.erase(cohort.communities["demo"].id, 999, Requester.SELF)


async def test_an_export_hook_adds_what_no_table_holds(cohort: Cohort) -> None:
    bob = (await cohort.identity.resolve(cohort.communities["demo"].id, BOB)).member_id

    async def model_notes(conn: Any, member_id: int) -> dict[str, list[dict[str, Any]]]:
        return {"recommender.model": [{"member_id": member_id, "note": "no row per member"}]}

    cohort.privacy.export_hooks.append(model_notes)
    exported = await cohort.privacy.export(bob)
    assert exported["data"]["recommender.model"] == [
        {"member_id": bob, "note": "no row per member"}
    ]
    assert exported["data"]["accounts.member_id"][0]["username"] == "bobby_t"
