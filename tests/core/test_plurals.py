"""Plural forms and durations in each language: "1 session", "2 sessions", "1 周"."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.i18n import SUPPORTED_LOCALES, Translator, placeholders, plural_form

pytestmark = pytest.mark.backend_free

CATALOG_EN = """
[shop]
items.one = "{count} item in {place}"
items.other = "{count} items in {place}"
"""
CATALOG_ZH = """
[shop]
items = "{place}里有 {count} 件"
"""


@pytest.mark.parametrize(
    ("locale", "count", "form"),
    [("en", 0, "other"), ("en", 1, "one"), ("en", 2, "other"), ("zh_CN", 1, "other")],
)
def test_plural_forms_by_language(locale: str, count: int, form: str) -> None:
    assert plural_form(locale, count) == form


def test_count_picks_the_form_and_chinese_has_one(tmp_path: Path) -> None:
    (tmp_path / "en.toml").write_text(CATALOG_EN, encoding="utf-8")
    (tmp_path / "zh_CN.toml").write_text(CATALOG_ZH, encoding="utf-8")
    i18n = Translator(strict=True)
    i18n.load_dir(tmp_path)
    assert i18n.text("en", "shop.items", count=1, place="Rome") == "1 item in Rome"
    assert i18n.text("en", "shop.items", count=3, place="Rome") == "3 items in Rome"
    assert i18n.text("zh_CN", "shop.items", count=1, place="罗马") == "罗马里有 1 件"
    assert i18n.has("shop.items")


def test_every_plural_form_has_the_placeholders_of_its_key() -> None:
    i18n = Translator(strict=True)
    for locale in SUPPORTED_LOCALES:
        for key, forms in i18n.plurals[locale].items():
            assert "count" in placeholders(forms["other"]), (locale, key)
            for template in forms.values():
                assert placeholders(template) == placeholders(forms["other"]), (locale, key)


@pytest.mark.parametrize(
    ("value", "en", "zh"),
    [
        (timedelta(weeks=1), "1 week", "1 周"),
        (timedelta(days=3), "3 days", "3 天"),
        (timedelta(hours=1, minutes=30), "1 hour 30 minutes", "1 小时 30 分钟"),
        (timedelta(minutes=1), "1 minute", "1 分钟"),
        (timedelta(seconds=45), "45 seconds", "45 秒"),
        (timedelta(0), "0 seconds", "0 秒"),
    ],
)
def test_durations_are_written_in_words(value: timedelta, en: str, zh: str) -> None:
    i18n = Translator(strict=True)
    assert i18n.duration("en", value) == en
    assert i18n.duration("zh_CN", value) == zh


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3660)))
def test_a_duration_in_chinese_has_no_latin_unit(value: timedelta) -> None:
    text = Translator(strict=True).duration("zh_CN", value)
    assert not any(c.isascii() and c.isalpha() for c in text)
