"""docs/privacy.md lists every holding with its policy, and nothing that is not one."""

from __future__ import annotations

import re
from pathlib import Path

from bot.core.cohort import Cohort

DOC = Path(__file__).resolve().parents[3] / "docs" / "privacy.md"
ROW = re.compile(r"^\| `([a-z_]+\.[a-z_]+)` \| ([a-z_]+) \|", re.MULTILINE)


def test_the_inventory_matches_the_registry(cohort: Cohort) -> None:
    documented = dict(ROW.findall(DOC.read_text(encoding="utf-8")))
    declared = {key: h.erase.value for key, h in cohort.privacy.holdings.items()}
    assert documented == declared
