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
