"""The UTC timestamp type: SQLite text written past SQLAlchemy equals SQLAlchemy's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from bot.store.direct import bind_processor
from bot.store.tables import message_log
from bot.store.types import sqlite_text

pytestmark = pytest.mark.backend_free

DIALECT = sqlite.dialect()
SQLALCHEMY = message_log.c.posted_at.type.dialect_impl(DIALECT).bind_processor(DIALECT)
ZONES = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
INSTANTS = st.datetimes(  # the bounds are wall-clock times: hypothesis wants them naive
    min_value=datetime(2, 1, 1, tzinfo=UTC).replace(tzinfo=None),
    max_value=datetime(9998, 12, 31, tzinfo=UTC).replace(tzinfo=None),
    timezones=ZONES | st.just(UTC),
)


@given(INSTANTS)
def test_sqlite_text_is_what_sqlalchemy_stores(value: datetime) -> None:
    assert SQLALCHEMY is not None
    assert sqlite_text(value) == SQLALCHEMY(value)


@given(INSTANTS, st.lists(st.integers(min_value=-90_000_000, max_value=90_000_000), max_size=8))
def test_sqlite_text_of_instants_near_the_last_is_what_sqlalchemy_stores(
    value: datetime, steps: list[int]
) -> None:
    # The minute of the last instant is kept: the next ones in it, and either side, too.
    assert SQLALCHEMY is not None
    for micros in [0, *steps]:
        try:
            near = value + timedelta(microseconds=micros)
        except OverflowError:
            continue
        assert sqlite_text(near) == SQLALCHEMY(near)


@pytest.mark.parametrize(
    ("instants", "texts"),
    [
        (
            [
                datetime(2026, 12, 7, 11, 30, 0, tzinfo=UTC),
                datetime(2026, 12, 7, 11, 30, 59, 999999, tzinfo=UTC),
                datetime(2026, 12, 7, 11, 31, 0, tzinfo=UTC),
                datetime(2026, 12, 7, 11, 30, 7, 5, tzinfo=UTC),
                datetime(2026, 12, 7, 6, 31, 1, 2, tzinfo=timezone(timedelta(hours=-5))),
            ],
            [
                "2026-12-07 11:30:00.000000",
                "2026-12-07 11:30:59.999999",
                "2026-12-07 11:31:00.000000",
                "2026-12-07 11:30:07.000005",
                "2026-12-07 11:31:01.000002",
            ],
        ),
        (
            [datetime.max.replace(tzinfo=UTC), datetime.max.replace(second=1, tzinfo=UTC)],
            ["9999-12-31 23:59:59.999999", "9999-12-31 23:59:01.999999"],
        ),
    ],
)
def test_sqlite_text_in_and_around_a_kept_minute(
    instants: list[datetime], texts: list[str]
) -> None:
    assert [sqlite_text(at) for at in instants] == texts


def test_sqlite_text_refuses_a_naive_datetime_as_sqlalchemy_does() -> None:
    naive = datetime(2026, 12, 6, 20, 0, tzinfo=UTC).replace(tzinfo=None)
    assert SQLALCHEMY is not None
    with pytest.raises(ValueError, match="naive datetime"):
        SQLALCHEMY(naive)
    with pytest.raises(ValueError, match="naive datetime"):
        sqlite_text(naive)


def test_the_direct_insert_uses_it_for_utc_timestamps_on_sqlite_only() -> None:
    assert bind_processor(message_log.c.posted_at, DIALECT) is sqlite_text
    assert bind_processor(message_log.c.text, DIALECT) is None
    assert bind_processor(message_log.c.posted_at, postgresql.dialect()) is not sqlite_text
