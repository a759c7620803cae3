"""The light markup every reply is written in, and its parser for the adapters.

``**bold**``, ``*italic*``, ```code```, ``[label](https://link)``; a backslash escapes any of
``\\ * ` [ ] ( )``. Anything a person typed goes through ``escape`` before it enters a reply, so
user text can never change the formatting; adapters render the parsed spans in their own way
(plain text in the console, HTML on Telegram, Markdown on Discord).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

_SPECIAL = re.compile(r"([\\*`\[\]()])")
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)
_STARTS = re.compile(r"[\\*`\[]")  # the characters the lexer acts on; the rest is text


def escape(text: str) -> str:
    """Return ``text`` with every markup character escaped."""
    return _SPECIAL.sub(r"\\\1", text)


@dataclass(frozen=True, slots=True)
class Span:
    """A run of text with one set of styles."""

    text: str
    bold: bool = False
    italic: bool = False
    code: bool = False
    link: str | None = None


def parse(markup: str) -> list[Span]:
    """Split markup into styled spans; unmatched markers are kept as literal text."""
    return list(_parse(markup))


@functools.lru_cache(maxsize=128)
def _parse(markup: str) -> tuple[Span, ...]:
    """Parse once per text: the same replies (help, menus, titles) are rendered again and again."""
    nodes = _Lexer(markup).run()
    _match_stars(nodes)
    return tuple(_merge(_spans(nodes)))


def plain(markup: str) -> str:
    """Return the text of ``markup`` with every marker removed."""
    return "".join(span.text for span in parse(markup))


# Parsing runs in two passes, like CommonMark's: the text is cut into literal text, code spans,
# links and runs of stars; then runs of stars are paired into bold and italic with a stack, so
# that nesting (``*a **b** c*``, ``***both***``) works and no input costs more than linear time.


@dataclass(slots=True)
class _Stars:
    """A run of unescaped ``*`` and what it turned out to open and close."""

    length: int
    left: int
    opens: list[int] = field(default_factory=list)
    closes: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Code:
    text: str


@dataclass(frozen=True, slots=True)
class _Link:
    label: str
    url: str


_Node = str | _Stars | _Code | _Link


class _Lexer:
    """Cut markup into literal text, code spans, links and runs of stars."""

    def __init__(self, text: str) -> None:
        self.text = text
        # escaped[i]: text[i] is taken literally because a backslash stands before it.
        self.escaped = [False] * (len(text) + 1)
        i = text.find("\\")
        while 0 <= i < len(text) - 1:
            self.escaped[i + 1] = True
            i = text.find("\\", i + 2)
        self._found: dict[str, tuple[int, int]] = {}

    def _next(self, marker: str, start: int) -> int:
        """Return the next unescaped ``marker`` at or after ``start``, or -1."""
        cached = self._found.get(marker)
        if cached is not None and cached[0] <= start and (start <= cached[1] or cached[1] == -1):
            return cached[1]
        j = self.text.find(marker, start)
        while j != -1 and (self.escaped[j] or self.text[j] == "\\"):
            j = self.text.find(marker, j + 1)
        self._found[marker] = (start, j)
        return j

    def run(self) -> list[_Node]:
        text, n = self.text, len(self.text)
        nodes: list[_Node] = []
        buf: list[str] = []

        def flush() -> None:
            if buf:
                nodes.append("".join(buf))
                buf.clear()

        i = 0
        while i < n:
            # Text up to the next character that could start markup is taken as it is.
            special = _STARTS.search(text, i)
            j = special.start() if special is not None else n
            if j > i:
                buf.append(text[i:j])
                i = j
                continue
            ch = text[i]
            if ch == "\\" and i + 1 < n:
                buf.append(text[i + 1])
                i += 2
                continue
            if ch == "*":
                j = i
                while j < n and text[j] == "*":
                    j += 1
                flush()
                nodes.append(_Stars(j - i, j - i))
                i = j
                continue
            if ch == "`":
                end = self._next("`", i + 1)
                if end > i + 1:
                    flush()
                    nodes.append(_Code(_unescape(text[i + 1 : end])))
                    i = end + 1
                    continue
            elif ch == "[":
                close = self._next("](", i + 1)
                if close > i + 1:
                    end = self._next(")", close + 2)
                    url = _unescape(text[close + 2 : end]) if end > close + 2 else ""
                    if url.startswith(("https://", "http://")):
                        flush()
                        nodes.append(_Link(_unescape(text[i + 1 : close]), url))
                        i = end + 1
                        continue
            buf.append(ch)
            i += 1
        flush()
        return nodes


def _unescape(text: str) -> str:
    return _ESCAPED.sub(r"\1", text)


def _may_pair(opener: _Stars, closer: _Stars) -> bool:
    """Apply CommonMark's rule of three: ``*a **b** c*`` nests rather than pair ``*`` and ``**``."""
    total = opener.length + closer.length
    return total % 3 != 0 or (opener.length % 3 == 0 and closer.length % 3 == 0)


def _match_stars(nodes: list[_Node]) -> None:
    """Pair runs of stars: two from each side make bold, one makes italic."""
    openers: list[_Stars] = []
    for node in nodes:
        if not isinstance(node, _Stars):
            continue
        while node.left:
            at = len(openers) - 1
            while at >= 0 and not _may_pair(openers[at], node):
                at -= 1
            if at < 0:
                break
            opener = openers[at]
            used = 2 if opener.left >= 2 and node.left >= 2 else 1
            opener.left -= used
            node.left -= used
            opener.opens.append(used)
            node.closes.append(used)
            # Runs between the pair can no longer open anything: they stay literal stars.
            del openers[at + 1 :]
            if not opener.left:
                openers.pop()
        if node.left:
            openers.append(node)


def _spans(nodes: list[_Node]) -> list[Span]:
    out: list[Span] = []
    bold = italic = 0
    for node in nodes:
        if isinstance(node, str):
            out.append(Span(node, bold=bold > 0, italic=italic > 0))
        elif isinstance(node, _Code):
            out.append(Span(node.text, bold=bold > 0, italic=italic > 0, code=True))
        elif isinstance(node, _Link):
            out.append(Span(node.label, bold=bold > 0, italic=italic > 0, link=node.url))
        else:
            # Closing stars come first in the run, opening stars last, the innermost nearest
            # the text they wrap; whatever paired with nothing is literal, in between.
            for used in node.closes:
                bold, italic = (bold - 1, italic) if used == 2 else (bold, italic - 1)
            if node.left:
                out.append(Span("*" * node.left, bold=bold > 0, italic=italic > 0))
            for used in reversed(node.opens):
                bold, italic = (bold + 1, italic) if used == 2 else (bold, italic + 1)
    return out


def _merge(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for span in spans:
        if not span.text:
            continue
        if merged:
            last = merged[-1]
            same = (last.bold, last.italic, last.code, last.link) == (
                span.bold,
                span.italic,
                span.code,
                span.link,
            )
            if same:
                merged[-1] = Span(
                    last.text + span.text, span.bold, span.italic, span.code, span.link
                )
                continue
        merged.append(span)
    return merged
