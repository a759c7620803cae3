"""The repository itself: no file carries an unresolved merge."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.backend_free

REPO = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^(<{7} |>{7} |={7}$)", re.M)


def test_no_file_has_merge_conflict_markers() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    found = [
        name
        for name in filter(None, listed.split("\0"))
        if (REPO / name).is_file()
        and name.endswith((".py", ".md", ".toml", ".txt", ".cfg", ".ini", ".mako"))
        and MARKER.search((REPO / name).read_text(encoding="utf-8", errors="replace"))
    ]
    assert found == []
