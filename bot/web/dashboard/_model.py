"""What a dashboard page shows, ready for its template, its charts and its CSV downloads."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

Cell = str | int | float


class ChartKind(StrEnum):
    """How dashboard.js draws a chart."""

    LINE = "line"
    BAR = "bar"
    STACKED = "stacked"  # bars stacked per label
    HEATMAP = "heatmap"  # series are rows, labels are columns


@dataclass(frozen=True, slots=True)
class Series:
    """One line or set of bars: a name and one value per label."""

    name: str
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart, whose data is also its table fallback and its CSV download."""

    id: str  # a-z, 0-9 and -: the CSV's file name and the canvas id
    title: str
    kind: ChartKind
    label_name: str  # the heading of the labels column ("Day", "Hour")
    labels: tuple[str, ...]
    series: tuple[Series, ...]

    def data(self) -> dict[str, object]:
        """Return what dashboard.js reads to draw the chart."""
        return {
            "kind": self.kind.value,
            "labels": list(self.labels),
            "series": [{"name": s.name, "values": list(s.values)} for s in self.series],
        }

    def table(self) -> Table:
        """Return the chart's data as a table: one row per label, one column per series."""
        rows = tuple(
            (label, *(_number(s.values[n]) for s in self.series))
            for n, label in enumerate(self.labels)
        )
        return Table(self.id, self.title, (self.label_name, *(s.name for s in self.series)), rows)


@dataclass(frozen=True, slots=True)
class Link:
    """A table cell that links to another dashboard page."""

    text: str
    href: str


@dataclass(frozen=True, slots=True)
class Table:
    """A table of figures: headings and rows."""

    id: str
    title: str
    headings: tuple[str, ...]
    rows: tuple[tuple[Cell | Link, ...], ...]

    def csv(self) -> str:
        """Return the table as CSV text (links as their text)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.headings)
        for row in self.rows:
            writer.writerow([_csv_cell(c) for c in row])
        return out.getvalue()


@dataclass(frozen=True, slots=True)
class Card:
    """A headline figure, with an optional sparkline."""

    label: str
    value: str
    note: str = ""
    spark: tuple[float, ...] = ()
    id: str = ""


@dataclass(frozen=True, slots=True)
class PageView:
    """Everything one page shows."""

    cards: tuple[Card, ...] = ()
    charts: tuple[Chart, ...] = ()
    tables: tuple[Table, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def downloadable(self, table_id: str) -> Table | None:
        """Return the chart or table whose CSV is ``table_id``."""
        for chart in self.charts:
            if chart.id == table_id:
                return chart.table()
        return next((t for t in self.tables if t.id == table_id), None)


def _number(value: float) -> Cell:
    return int(value) if float(value).is_integer() else round(value, 4)


def _csv_cell(cell: Cell | Link) -> str:
    text = cell.text if isinstance(cell, Link) else str(cell)
    # A spreadsheet runs a cell that starts like a formula: names come from members.
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _numeric(text) else text


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def column(values: Sequence[float]) -> tuple[float, ...]:
    """Return ``values`` as a chart series' values."""
    return tuple(float(v) for v in values)
