"""The recommender's plain types, importable without numpy, scipy or scikit-learn."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Course:
    """One course of the catalog, as the recommender sees it."""

    id: str
    title: str
    description: str = ""
    tags: tuple[str, ...] = ()
    language: str = ""
    tiers: tuple[str, ...] = ()

    def text(self) -> str:
        """Return the words that describe the course, tags twice (they are the densest)."""
        tags = " ".join(self.tags)
        return f"{self.title}\n{self.description}\n{tags}\n{tags}"


def catalog_digest(courses: list[Course] | tuple[Course, ...]) -> str:
    """Return a short digest of the catalog, so a model knows which catalog it was trained on."""
    h = hashlib.sha256()
    for course in courses:
        for part in (course.id, course.title, course.description, *course.tags, course.language):
            h.update(part.encode())
            h.update(b"\x00")
        h.update(b"\x01")
    return h.hexdigest()[:16]


class Algorithm(StrEnum):
    """Which collaborative model a recommender uses."""

    EASE = "ease"
    ITEM_KNN = "item_knn"
    POPULARITY = "popularity"


class Reason(StrEnum):
    """Why a course is suggested."""

    ALSO_TOOK = "also_took"  # members who took X also took this
    WROTE_ABOUT = "wrote_about"  # you wrote about <keyword>
    MATCHES_TEXT = "matches_text"  # close to what you wrote, no single word to quote
    POPULAR = "popular"


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One suggested course and why: ``because`` is a course id (ALSO_TOOK) or a keyword."""

    course_id: str
    score: float
    reason: Reason
    because: str = ""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a model was trained on and how it was chosen."""

    trained_at: datetime
    data_version: str
    catalog: str
    algorithm: Algorithm
    params: dict[str, float] = field(default_factory=dict)
    members: int = 0
    purchases: int = 0
    validation: dict[str, float] = field(default_factory=dict)
