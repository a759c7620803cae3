"""Model files: one ``.npz`` of plain arrays (no pickle) plus a JSON header, written atomically."""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from bot.recommend._model import Model
from bot.recommend._text import TextModel
from bot.recommend._types import Algorithm, Course, ModelInfo

FORMAT = 1


class ModelFileError(Exception):
    """A model file that is missing, unreadable, corrupt or of another format."""


def _sparse_arrays(prefix: str, matrix: sparse.csr_matrix) -> dict[str, np.ndarray]:
    return {
        f"{prefix}_data": matrix.data,
        f"{prefix}_indices": matrix.indices,
        f"{prefix}_indptr": matrix.indptr,
        f"{prefix}_shape": np.array(matrix.shape, dtype=np.int64),
    }


def _sparse_from(prefix: str, arrays: Any) -> sparse.csr_matrix:
    shape = tuple(int(x) for x in arrays[f"{prefix}_shape"])
    return sparse.csr_matrix(
        (arrays[f"{prefix}_data"], arrays[f"{prefix}_indices"], arrays[f"{prefix}_indptr"]),
        shape=shape,
    )


def save(model: Model, path: Path) -> None:
    """Write ``model`` to ``path`` (replacing it in one step, so readers never see half)."""
    info = model.info
    header = {
        "format": FORMAT,
        "trained_at": info.trained_at.isoformat(),
        "data_version": info.data_version,
        "catalog": info.catalog,
        "algorithm": info.algorithm.value,
        "params": info.params,
        "members": info.members,
        "purchases": info.purchases,
        "validation": info.validation,
        "text_weight": model.text_weight,
        "cold_popularity": model.cold_popularity,
        "popularity_weight": model.popularity_weight,
        # In courses; 0 is none (JSON has no infinity).
        "recency": model.recency if math.isfinite(model.recency) else 0.0,
        "courses": [
            {
                "id": c.id,
                "title": c.title,
                "description": c.description,
                "tags": list(c.tags),
                "language": c.language,
                "tiers": list(c.tiers),
            }
            for c in model.courses
        ],
    }
    arrays: dict[str, np.ndarray] = {
        "header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
        "popularity": model.popularity,
    }
    if isinstance(model.weights, np.ndarray):
        arrays["dense_weights"] = model.weights
    elif model.weights is not None:
        arrays |= _sparse_arrays("weights", model.weights)
    if model.text is not None:
        arrays["idf"] = model.text.idf
        arrays |= _sparse_arrays("text", model.text.courses)
        arrays["keywords"] = np.frombuffer(
            json.dumps([list(k) for k in model.text.keywords]).encode(), dtype=np.uint8
        )
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(buffer.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> Model:
    """Read a model file; raise ModelFileError if it is missing, corrupt or of another format."""
    try:
        raw = path.read_bytes()  # np.load leaves the file open when the zip is broken
        with np.load(io.BytesIO(raw), allow_pickle=False) as arrays:
            header = json.loads(bytes(arrays["header"]).decode())
            if header.get("format") != FORMAT:
                raise ModelFileError(f"{path}: format {header.get('format')!r}, not {FORMAT}")
            courses = [
                Course(
                    id=c["id"],
                    title=c["title"],
                    description=c["description"],
                    tags=tuple(c["tags"]),
                    language=c["language"],
                    tiers=tuple(c["tiers"]),
                )
                for c in header["courses"]
            ]
            weights: np.ndarray | sparse.csr_matrix | None = None
            if "dense_weights" in arrays:
                weights = np.array(arrays["dense_weights"])
            elif "weights_data" in arrays:
                weights = _sparse_from("weights", arrays)
            text = None
            if "idf" in arrays:
                keywords = json.loads(bytes(arrays["keywords"]).decode())
                text = TextModel(np.array(arrays["idf"]), _sparse_from("text", arrays), keywords)
            info = ModelInfo(
                trained_at=datetime.fromisoformat(header["trained_at"]),
                data_version=header["data_version"],
                catalog=header["catalog"],
                algorithm=Algorithm(header["algorithm"]),
                params=header["params"],
                members=header["members"],
                purchases=header["purchases"],
                validation=header["validation"],
            )
            model = Model(
                courses,
                info=info,
                weights=weights,
                popularity=np.array(arrays["popularity"]),
                text=text,
                text_weight=header["text_weight"],
                cold_popularity=header["cold_popularity"],
                popularity_weight=header.get("popularity_weight", 0.0),  # absent before 2026-11
                recency=float(header.get("recency", 0.0)) or math.inf,  # absent before 2026-12
            )
    except ModelFileError:
        raise
    except FileNotFoundError as exc:
        raise ModelFileError(f"{path}: no such file") from exc
    except Exception as exc:  # a truncated zip, bad JSON, a missing array, wrong shapes...
        raise ModelFileError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from exc
    if info.trained_at.tzinfo is None:
        raise ModelFileError(f"{path}: training time without a time zone")
    _check_shapes(model, path)
    return model


def _check_shapes(model: Model, path: Path) -> None:
    n = len(model.courses)
    problems = []
    if model.popularity.shape != (n,):
        problems.append("popularity")
    if model.weights is not None and model.weights.shape != (n, n):
        problems.append("weights")
    if model.text is not None and (
        model.text.courses.shape[0] != n or len(model.text.keywords) != n
    ):
        problems.append("text")
    if problems:
        raise ModelFileError(f"{path}: arrays do not match the catalog: {', '.join(problems)}")
