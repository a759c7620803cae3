"""Write MovieLens-100K, as the RecBole wheel on PyPI ships it, in the MovieLens format.

RecBole's wheel carries ML-100K as atomic files (``recbole/dataset_example/ml-100k/``:
``ml-100k.inter`` with ``user_id``, ``item_id``, ``rating``, ``timestamp`` and ``ml-100k.item``
with ``item_id``, ``movie_title``, ``release_year``, ``class``, tab-separated). This reads them
from the wheel's zip and writes ``ratings.csv``, ``movies.csv`` and ``tags.csv`` (ML-100K has
no tags: header only) into a folder that ``cohort recommend evaluate --source
movielens-format FOLDER`` reads. The data is not committed: it stays held out.

Run: ``.venv/bin/python -m benchmarks.movielens_recbole OUT [--wheel recbole-*.whl]``; without
``--wheel`` it runs ``pip download recbole==1.2.1 --no-deps`` into a temporary folder.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

VERSION = "1.2.1"
FOLDER = "recbole/dataset_example/ml-100k/"


def atomic_rows(raw: bytes) -> Iterator[dict[str, str]]:
    """Yield an atomic file's rows by field name (``user_id:token`` is read as ``user_id``)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    lines = text.splitlines()
    if not lines:
        return
    names = [field.split(":", 1)[0] for field in lines[0].split("\t")]
    for line in lines[1:]:
        if line.strip():
            values = line.split("\t")
            yield dict(zip(names, values + [""] * (len(names) - len(values)), strict=True))


def convert(wheel: Path, out: Path) -> tuple[int, int]:
    """Write the wheel's ML-100K into ``out`` in the MovieLens format; return (ratings, items)."""
    with zipfile.ZipFile(wheel) as archive:
        inter = archive.read(FOLDER + "ml-100k.inter")
        items = archive.read(FOLDER + "ml-100k.item")
    out.mkdir(parents=True, exist_ok=True)
    n_items = 0
    with (out / "movies.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["movieId", "title", "genres"])
        for row in atomic_rows(items):
            year = row.get("release_year", "").strip()
            title = row["movie_title"].strip() + (f" ({year})" if year else "")
            writer.writerow([row["item_id"], title, "|".join(row.get("class", "").split())])
            n_items += 1
    n_ratings = 0
    with (out / "ratings.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["userId", "movieId", "rating", "timestamp"])
        for row in atomic_rows(inter):
            writer.writerow([row["user_id"], row["item_id"], row["rating"], row["timestamp"]])
            n_ratings += 1
    with (out / "tags.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerow(["userId", "movieId", "tag", "timestamp"])
    return n_ratings, n_items


def download(folder: Path) -> Path:
    """Fetch RecBole's wheel from PyPI with pip (no dependencies) and return its path."""
    pip = [sys.executable, "-m", "pip", "download", f"recbole=={VERSION}", "--no-deps"]
    subprocess.run([*pip, "--quiet", "-d", str(folder)], check=True)
    return next(folder.glob("recbole-*.whl"))


def main(argv: list[str] | None = None) -> None:
    """Convert ML-100K from RecBole's wheel into a MovieLens-format folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path, help="folder to write ratings.csv, movies.csv, tags.csv")
    parser.add_argument("--wheel", type=Path, help="a downloaded recbole wheel")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download(Path(tmp))
        ratings, items = convert(wheel, args.out)
    print(f"{args.out}: {ratings} ratings of {items} items (from {wheel.name})")


if __name__ == "__main__":
    main()
