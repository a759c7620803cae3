"""Charts, tables and CSV downloads of the dashboard's pages."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.web.dashboard._model import Chart, ChartKind, Link, PageView, Series, Table

pytestmark = pytest.mark.backend_free

CHART = Chart(
    "messages",
    "Messages per day",
    ChartKind.BAR,
    "Day",
    ("2026-11-01", "2026-11-02"),
    (Series("Messages", (3.0, 0.0)), Series("Share", (0.25, 1.5))),
)


def test_a_chart_is_its_own_table() -> None:
    table = CHART.table()
    assert table.headings == ("Day", "Messages", "Share")
    assert table.rows == (("2026-11-01", 3, 0.25), ("2026-11-02", 0, 1.5))
    assert table.csv() == "Day,Messages,Share\r\n2026-11-01,3,0.25\r\n2026-11-02,0,1.5\r\n"


def test_the_data_for_the_script_names_every_series() -> None:
    assert CHART.data() == {
        "kind": "bar",
        "labels": ["2026-11-01", "2026-11-02"],
        "series": [
            {"name": "Messages", "values": [3.0, 0.0]},
            {"name": "Share", "values": [0.25, 1.5]},
        ],
    }


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-5", "-5"),  # a number stays a number
        ("Bob", "Bob"),
        (Link("=cmd", "/dashboard/members/1"), "'=cmd"),
        (7, "7"),
    ],
)
def test_a_name_never_becomes_a_spreadsheet_formula(cell: object, written: str) -> None:
    table = Table("t", "T", ("Name",), ((cell,),))  # type: ignore[arg-type]
    assert list(csv.reader(io.StringIO(table.csv())))[1] == [written]


@given(st.lists(st.text(max_size=30), min_size=1, max_size=5))
def test_csv_reads_back_as_written(names: list[str]) -> None:
    table = Table("t", "T", ("Name", "Messages"), tuple((n, 1) for n in names))
    rows = list(csv.reader(io.StringIO(table.csv())))
    assert rows[0] == ["Name", "Messages"]
    for name, row in zip(names, rows[1:], strict=True):
        assert row[0].removeprefix("'") == name or row[0] == name


def test_a_page_finds_a_download_among_charts_and_tables() -> None:
    table = Table("top", "Top", ("A",), ())
    view = PageView(charts=(CHART,), tables=(table,))
    assert view.downloadable("messages") == CHART.table()
    assert view.downloadable("top") is table
    assert view.downloadable("nope") is None
