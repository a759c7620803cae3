"""A leaderboard as CSV, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io

from bot.cogs.points._ledger import Ranked

HEADER = ("rank", "member_id", "name", "accounts", "points")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    """Keep a spreadsheet from reading a member's name as a formula."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def board_csv(board: list[tuple[Ranked, tuple[str, ...]]]) -> bytes:
    """Return the board as UTF-8 CSV with a byte-order mark (so spreadsheets read Chinese)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for line, refs in board:
        writer.writerow((line.rank, line.member_id, _cell(line.name), " ".join(refs), line.total))
    return out.getvalue().encode("utf-8-sig")
