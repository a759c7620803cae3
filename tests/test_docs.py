"""The command reference (README table, docs/commands*.md) is the registry's, word for word."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bot import cli, docs

pytestmark = pytest.mark.backend_free

REPO = Path(__file__).resolve().parent.parent


def test_the_generated_tables_match_the_registry() -> None:
    # Run `cohort docs` after changing a command, its options or their translations.
    assert docs.stale(REPO) == []


@pytest.fixture(scope="module")
def english() -> str:
    registry, i18n = docs.load_registry()
    return docs.table(registry, i18n, "en")


def test_every_registered_command_has_a_row(english: str) -> None:
    registry, _ = docs.load_registry()
    rows = [line for line in english.splitlines() if line.startswith("| `/")]
    assert len(rows) == len(registry)
    for spec in registry:
        assert any(row.startswith(f"| `/{spec.name}") for row in rows), spec.name


@pytest.mark.parametrize(
    "row_start",
    [
        "| `/ask <question>` | anyone |",
        "| `/accept [member] [question]` | anyone |",
        "| `/solved [member] [question]` |",
        "| `/bounty <amount> [question]` |",
        "| `/close <reason> [question]` |",
        "| `/questions search <words>` |",
        "| `/points show [member]` (also `/points`) | anyone |",
        "| `/recommend show` (also `/recommend`) | anyone |",
        "| `/points give <member> <amount> <reason>` | organizers |",
    ],
)
def test_rows_read_as_the_user_types_them(english: str, row_start: str) -> None:
    assert any(line.startswith(row_start) for line in english.splitlines())


def test_the_chinese_page_shows_the_names_discord_shows() -> None:
    registry, i18n = docs.load_registry()
    chinese = docs.page(registry, i18n, "zh_CN")
    row = next(line for line in chinese.splitlines() if line.startswith("| `/points show"))
    assert "Discord：`/积分 查看 [成员]`" in row
    assert "`member` / `成员`:" in row
    assert "| 所有人 | 查看积分、等级和排名 |" in row


def test_a_readme_without_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="commands:start"):
        docs.readme_with_table("# Cohort\n", "| table |\n")


def test_cohort_docs_check_fails_on_a_stale_table_and_docs_fixes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(REPO / "README.md", tmp_path / "README.md")
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    (tmp_path / "README.md").write_text(
        readme.replace("| `/points show [member]`", "| `/points [member]`"), encoding="utf-8"
    )
    assert cli.main(["docs", "--check", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "README.md: out of date" in out
    assert "commands.zh_CN.md: out of date" in out  # missing altogether
    assert cli.main(["docs", "--root", str(tmp_path)]) == 0
    assert cli.main(["docs", "--check", "--root", str(tmp_path)]) == 0
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == (REPO / "README.md").read_text(
        encoding="utf-8"
    )


LINK_RE = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize(
    "page", ["README.md", *(str(p.relative_to(REPO)) for p in sorted(REPO.glob("docs/*.md")))]
)
def test_every_relative_link_is_a_file_of_the_repository(page: str) -> None:
    source = REPO / page
    for target in LINK_RE.findall(source.read_text(encoding="utf-8")):
        if "://" in target or target.startswith("mailto:"):
            continue
        path = (source.parent / target).resolve()
        assert path.is_relative_to(REPO) and path.exists(), f"{page} links {target}"


COMMAND_RE = re.compile(r"`/([a-z_]+)(?: ([a-z_]+))?")
WEB_PATHS = {"healthz", "calendar", "stripe", "telegram"}


def test_the_design_names_only_commands_that_exist_or_says_they_are_planned() -> None:
    registry, _ = docs.load_registry()
    text = (REPO / "docs" / "design.md").read_text(encoding="utf-8")
    # A block is a bullet (with its continuation lines) or a paragraph.
    blocks = re.split(r"\n(?=- )|\n\n", text)
    unknown = []
    for block in blocks:
        for top, sub in COMMAND_RE.findall(block):
            if top in WEB_PATHS:
                continue
            known = registry.get(f"{top} {sub}") is not None or registry.get(top) is not None
            if not known and "**planned**" not in block:
                unknown.append(f"/{top} {sub}".strip())
    assert unknown == []
