"""Every key the dashboard's templates and pages name exists in English and Chinese."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.cogs.analytics import MemberSort, Segment
from bot.core.cohort import Cohort
from bot.core.i18n import SUPPORTED_LOCALES
from bot.web.dashboard import _pages
from bot.web.dashboard._auth import STATUS_OF
from bot.web.dashboard._views import NAVIGATION

ROOT = Path(__file__).resolve().parents[3] / "bot" / "web" / "dashboard"
LITERAL = re.compile(r"""\bt\(\s*'([a-z_]+(?:\.[a-z_0-9]+)+)'""")
LABEL = re.compile(r"""fmt\.label\(\s*"([a-z_]+(?:\.[a-z_0-9]+)+)\"""")


def _keys() -> set[str]:
    keys = set()
    for path in (ROOT / "templates").glob("*.html"):
        keys.update(LITERAL.findall(path.read_text(encoding="utf-8")))
    for path in ROOT.glob("*.py"):
        keys.update("dashboard.web." + k for k in LABEL.findall(path.read_text(encoding="utf-8")))
    # the keys built from a value
    keys.update(f"dashboard.web.page.{p}" for p in NAVIGATION)
    keys.update(f"dashboard.web.sorts.{s.value}" for s in MemberSort)
    keys.update(f"dashboard.web.segments.{s.value}" for s in Segment)
    keys.update(f"dashboard.web.refused_{r.value}" for r in STATUS_OF)
    keys.update(f"dashboard.web.weekday.{d}" for d in _pages.WEEKDAYS)
    keys.update(f"dashboard.web.platform.{p}" for p in ("console", "discord", "telegram"))
    return keys


def test_the_scan_finds_keys() -> None:
    assert len(_keys()) > 150


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_dashboard_key_is_translated(cohort: Cohort, locale: str) -> None:
    catalog = cohort.i18n.catalogs[locale]
    missing = sorted(k for k in _keys() if k not in catalog)
    assert missing == []
