"""Every user-facing string exists in English and Chinese, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bot.cogs import DEFAULT_COGS
from bot.core import i18n as i18n_module
from bot.core.cohort import Cohort
from bot.core.i18n import SUPPORTED_LOCALES, Translator, normalize_locale, placeholders

ROOT = Path(__file__).resolve().parents[2] / "bot"
# Literal keys in calls such as ctx.t("x.y"), ctx.plain("x.y"), UserError("x.y"), t("x.y").
KEY_CALL = re.compile(
    r"""(?:\bt|\bplain|\btext|UserError)\(\s*["']([a-z_]+(?:\.[a-z_0-9]+)+)["']"""
)


def test_every_locale_has_every_key_with_the_same_placeholders(cohort: Cohort) -> None:
    english = cohort.i18n.catalogs["en"]
    for locale in SUPPORTED_LOCALES:
        catalog = cohort.i18n.catalogs[locale]
        assert set(catalog) == set(english), locale
        for key, template in catalog.items():
            assert placeholders(template) == placeholders(english[key]), (locale, key)


def test_every_key_used_in_code_is_translated(cohort: Cohort) -> None:
    used = set()
    for path in ROOT.rglob("*.py"):
        used.update(KEY_CALL.findall(path.read_text(encoding="utf-8")))
    assert used, "the scan found no keys: the pattern is broken"
    missing = sorted(key for key in used if not cohort.i18n.has(key))
    assert missing == []


def test_every_command_and_option_is_described(cohort: Cohort) -> None:
    for spec in cohort.registry:
        assert cohort.i18n.has(spec.description_key), spec.name
        for option in spec.options:
            assert cohort.i18n.has(option.description_key), (spec.name, option.name)
            for choice in option.choices:
                assert cohort.i18n.has(choice.label_key), (spec.name, choice.value)
    assert len(cohort.registry) >= 4
    assert DEFAULT_COGS


def test_parameters_are_escaped_for_markup_but_not_in_plain_text() -> None:
    i18n = Translator(strict=True)
    assert i18n.text("en", "member.unknown", value="*x*") == (
        "I do not know the member “\\*x\\*” yet: they have to post or run a command first."
    )
    assert "“*x*”" in i18n.plain("en", "member.unknown", value="*x*")


def test_missing_keys_fail_loudly_in_strict_mode() -> None:
    with pytest.raises(KeyError):
        Translator(strict=True).text("en", "no.such.key")
    assert Translator().text("en", "no.such.key") == "no.such.key"


def test_chinese_falls_back_to_english_for_a_missing_key(tmp_path: Path) -> None:
    (tmp_path / "en.toml").write_text('[extra]\nonly = "Only English"\n', encoding="utf-8")
    i18n = Translator()
    i18n.load_dir(tmp_path)
    assert i18n.text("zh_CN", "extra.only") == "Only English"


@pytest.mark.backend_free
def test_a_catalog_file_is_parsed_once_and_again_when_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []
    load = i18n_module.tomllib.load

    def counting(fh: Any) -> dict[str, Any]:
        parsed.append(fh.name)
        return load(fh)

    monkeypatch.setattr(i18n_module.tomllib, "load", counting)
    catalog = tmp_path / "en.toml"
    catalog.write_text('[extra]\nonly = "First"\n', encoding="utf-8")
    first, second = Translator(), Translator()
    first.load_dir(tmp_path)
    second.load_dir(tmp_path)
    assert parsed == [str(catalog)]  # the second bot copies what the first one parsed
    assert second.text("en", "extra.only") == first.text("en", "extra.only") == "First"
    catalog.write_text('[extra]\nonly = "Changed"\n', encoding="utf-8")
    third = Translator()
    third.load_dir(tmp_path)
    assert parsed == [str(catalog)] * 2
    assert third.text("en", "extra.only") == "Changed"
    assert first.text("en", "extra.only") == "First"


@pytest.mark.backend_free
def test_a_change_to_one_translators_strings_stays_in_it() -> None:
    first, second = Translator(strict=True), Translator(strict=True)
    key, forms = next(iter(first.plurals["en"].items()))
    first.catalogs["en"]["member.unknown"] = "changed"
    forms["other"] = "changed"
    del first.catalogs["zh_CN"]["member.unknown"]
    assert second.catalogs["en"]["member.unknown"] != "changed"
    assert second.plurals["en"][key]["other"] != "changed"
    assert "member.unknown" in second.catalogs["zh_CN"]
    assert Translator().catalogs == second.catalogs
    assert Translator().plurals == second.plurals


@pytest.mark.parametrize(
    ("tag", "locale"),
    [
        ("en", "en"),
        ("en-US", "en"),
        ("en_GB", "en"),
        ("zh", "zh_CN"),
        ("zh-CN", "zh_CN"),
        ("zh-hans", "zh_CN"),
        ("zh-Hans-CN", "zh_CN"),
        ("ZH_cn", "zh_CN"),
        ("zh-TW", None),
        ("zh-Hant", None),
        ("fr", None),
        ("", None),
        (None, None),
    ],
)
def test_locale_tags_are_normalised(tag: str | None, locale: str | None) -> None:
    assert normalize_locale(tag) == locale
