"""Numbers, shares, money, durations and days written for one language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.i18n import Translator

# Currencies whose minor unit is the unit itself (Stripe's zero-decimal list, the common ones).
ZERO_DECIMAL = frozenset({"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf"})
ZERO_DECIMAL |= frozenset({"ugx", "vnd", "vuv", "xaf", "xof", "xpf"})


@dataclass(frozen=True, slots=True)
class Formatter:
    """Write figures for a page in ``locale`` and ``zone``."""

    i18n: Translator
    locale: str
    zone: ZoneInfo

    def label(self, key: str, /, **params: Any) -> str:
        """Translate ``key`` as plain text."""
        return self.i18n.plain(self.locale, f"dashboard.web.{key}", **params)

    def count(self, value: int) -> str:
        """Write a count with thousands separators."""
        return f"{value:,}"

    def decimal(self, value: float) -> str:
        """Write a ratio-like figure with two decimals."""
        return f"{value:,.2f}"

    def share(self, value: float) -> str:
        """Write a share from 0 to 1 as a percentage."""
        return f"{value * 100:.1f}%"

    def money(self, amount: int, currency: str) -> str:
        """Write an amount in minor units with its currency code."""
        code = currency.upper()
        if currency.lower() in ZERO_DECIMAL:
            return f"{amount:,} {code}"
        return f"{amount / 100:,.2f} {code}"

    def span(self, value: timedelta | None) -> str:
        """Write a duration in words (to the minute), or a dash when there is none."""
        if value is None:
            return "–"
        minutes = int(value.total_seconds() // 60)
        if minutes < 1:
            return self.i18n.duration(self.locale, timedelta(seconds=int(value.total_seconds())))
        return self.i18n.duration(self.locale, timedelta(minutes=minutes))

    def day(self, value: date | None) -> str:
        """Write a day as YYYY-MM-DD, or a dash."""
        return value.isoformat() if value else "–"

    def moment(self, value: datetime) -> str:
        """Write an instant in the community's zone, to the minute."""
        return value.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")
