"""Reading interaction data laid out like the public MovieLens sets, so anyone can evaluate.

A folder holds ``ratings.csv`` (``userId,movieId,rating,timestamp``), ``movies.csv`` or
``items.csv`` (``movieId,title,genres``, genres split on ``|``) and, optionally, ``tags.csv``
(``userId,movieId,tag,timestamp``). A rating is a member taking an item; a tag is a short
note the member wrote, read as a message. ``itemId`` may stand for ``movieId``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from bot.recommend._data import Dataset
from bot.recommend._types import Course

NO_GENRES = "(no genres listed)"
ITEM_FILES = ("movies.csv", "items.csv")
ITEM_COLUMNS = ("movieId", "itemId")


class SourceError(ValueError):
    """Data that cannot be read; the message names the file, the line and what was wrong."""


def load_movielens(folder: Path, *, min_rating: float = -math.inf) -> Dataset:
    """Read a MovieLens-format folder; ratings under ``min_rating`` are left out."""
    if not folder.is_dir():
        raise SourceError(f"{folder}: not a folder (expected ratings.csv and movies.csv in it)")
    items_path = next((folder / n for n in ITEM_FILES if (folder / n).is_file()), None)
    if items_path is None:
        raise SourceError(f"{folder}: no movies.csv or items.csv")
    courses: list[Course] = []
    index: dict[str, int] = {}
    for line, row in _read(items_path, ("title", "genres")):
        item = _item(row)
        if item in index:
            raise SourceError(f"{items_path.name} line {line}: item {item!r} listed twice")
        genres = tuple(g for g in row["genres"].split("|") if g and g != NO_GENRES)
        index[item] = len(courses)
        courses.append(Course(id=item, title=row["title"].strip(), tags=genres))
    users: dict[str, int] = {}
    ev_rows: list[int] = []
    ev_items: list[int] = []
    ev_times: list[float] = []
    ratings = folder / "ratings.csv"
    if not ratings.is_file():
        raise SourceError(f"{folder}: no ratings.csv")
    for line, row in _read(ratings, ("userId", "rating", "timestamp")):
        position = _known(index, row, ratings, line)
        rating = _number(row, "rating", ratings, line)
        when = _number(row, "timestamp", ratings, line)
        if rating < min_rating:
            continue
        ev_rows.append(users.setdefault(_user(row, ratings, line), len(users)))
        ev_items.append(position)
        ev_times.append(when)
    msg_rows: list[int] = []
    msg_times: list[float] = []
    texts: list[str] = []
    tags = folder / "tags.csv"
    if tags.is_file():
        for line, row in _read(tags, ("userId", "tag", "timestamp")):
            _known(index, row, tags, line)
            when = _number(row, "timestamp", tags, line)
            text = row["tag"].strip()
            if not text:
                continue
            msg_rows.append(users.setdefault(_user(row, tags, line), len(users)))
            msg_times.append(when)
            texts.append(text)
    if not ev_rows:
        raise SourceError(f"{ratings.name}: no ratings (at or above --min-rating)")
    member_ids = np.zeros(len(users), dtype=np.int64)
    for user, row_number in users.items():
        member_ids[row_number] = int(user)
    return Dataset(
        courses=courses,
        member_ids=member_ids,
        event_rows=np.array(ev_rows, dtype=np.int64),
        event_items=np.array(ev_items, dtype=np.int64),
        event_times=np.array(ev_times, dtype=np.float64),
        event_weights=np.ones(len(ev_rows), dtype=np.float32),
        message_rows=np.array(msg_rows, dtype=np.int64),
        message_times=np.array(msg_times, dtype=np.float64),
        message_texts=texts,
        version=f"movielens:{folder.name}:{len(ev_rows)}:{len(texts)}",
    )


def _read(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) of a CSV file, checking its header and each row's width."""
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise SourceError(f"{path.name}: empty (expected a header row)")
            header = [h.strip().lstrip("\ufeff") for h in header]
            wanted = list(columns)
            if not any(c in header for c in ITEM_COLUMNS):
                wanted.append("movieId")
            missing = [c for c in wanted if c not in header]
            if missing:
                raise SourceError(
                    f"{path.name} line 1: header {','.join(header)!r} lacks {', '.join(missing)}"
                )
            for values in reader:
                line = reader.line_num
                if not values or values == [""]:
                    continue
                if len(values) != len(header):
                    raise SourceError(
                        f"{path.name} line {line}: {len(values)} fields, expected "
                        f"{len(header)} ({','.join(header)})"
                    )
                yield line, dict(zip(header, values, strict=True))
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path.name}: not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise SourceError(f"{path.name}: not CSV ({exc})") from None


def _item(row: dict[str, str]) -> str:
    return next(row[c] for c in ITEM_COLUMNS if c in row).strip()


def _known(index: dict[str, int], row: dict[str, str], path: Path, line: int) -> int:
    item = _item(row)
    found = index.get(item)
    if found is None:
        raise SourceError(f"{path.name} line {line}: item {item!r} is not in the item file")
    return found


def _user(row: dict[str, str], path: Path, line: int) -> str:
    user = row["userId"].strip()
    if not user.isdigit():
        raise SourceError(f"{path.name} line {line}: userId {user!r} is not a whole number")
    return str(int(user))


def _number(row: dict[str, str], column: str, path: Path, line: int) -> float:
    raw = row[column].strip()
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise SourceError(f"{path.name} line {line}: {column} {raw!r} is not a number")
    return value
