"""Read what a member typed after /ask into a title, details and tags: a plain parser."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core.errors import UserError

TITLE_MAX = 150
BODY_MAX = 4000
TAGS_MAX = 5
_TAG = re.compile(r"(?<![\w#])#([\w-]{1,30})")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Draft:
    """A question as asked, before it has a thread."""

    title: str
    body: str
    tags: tuple[str, ...]


def parse_question(text: str) -> Draft:
    """Split ``title | details #tag #tag`` (or a first line and the rest) into a Draft.

    Tags are ``#words`` anywhere (at most five, lower-cased, in order, each once); a title
    longer than 150 characters is cut, and the whole text is kept as the details.
    """
    tags: list[str] = []
    for match in _TAG.finditer(text):
        tag = match.group(1).lower()
        if tag not in tags and len(tags) < TAGS_MAX:
            tags.append(tag)
    stripped = _TAG.sub("", text)
    if "|" in stripped:
        head, _, rest = stripped.partition("|")
    else:
        head, _, rest = stripped.strip().partition("\n")
    title = _SPACES.sub(" ", head).strip()
    body = rest.strip()
    if not title:
        raise UserError("qa.ask.empty")
    if len(title) > TITLE_MAX:
        body = f"{title}\n\n{body}".strip()
        title = title[: TITLE_MAX - 1].rstrip() + "…"
    return Draft(title, body[:BODY_MAX], tuple(tags))
