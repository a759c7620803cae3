"""Render a Reply as Telegram HTML: escaped text, fields, and messages split at 4096 characters."""

from __future__ import annotations

import html

from bot.core import markup
from bot.core.replies import Reply

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024


def to_html(source: str) -> str:
    """Return light markup as Telegram HTML; every character of text is escaped."""
    out: list[str] = []
    for span in markup.parse(source):
        text = html.escape(span.text, quote=False)
        if span.code:
            text = f"<code>{text}</code>"
        if span.italic:
            text = f"<i>{text}</i>"
        if span.bold:
            text = f"<b>{text}</b>"
        if span.link:
            text = f'<a href="{html.escape(span.link, quote=True)}">{text}</a>'
        out.append(text)
    return "".join(out)


def reply_markup_text(reply: Reply) -> str:
    """Return the whole reply (title, text, fields) as one piece of light markup."""
    parts: list[str] = []
    if reply.title:
        parts.append(f"**{markup.escape(markup.plain(reply.title))}**")
    if reply.text:
        parts.append(reply.text)
    for field in reply.fields:
        name = markup.escape(markup.plain(field.name))
        joiner = "\n" if "\n" in field.value else " "
        parts.append(f"**{name}:**{joiner}{field.value}")
    return "\n".join(parts)


def _visible_length(source: str) -> int:
    return sum(len(span.text) for span in markup.parse(source))


def split_markup(source: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut markup into pieces of at most ``limit`` visible characters, at line breaks if possible.

    Pieces are cut between lines, so no formatting crosses a cut; a single line that is too long
    is cut between its spans, and a span that is too long is cut as plain text.
    """
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for line in source.split("\n"):
        length = _visible_length(line)
        if length > limit:
            if current:
                pieces.append("\n".join(current))
                current, size = [], 0
            pieces.extend(_split_line(line, limit))
            continue
        extra = length + (1 if current else 0)
        if current and size + extra > limit:
            pieces.append("\n".join(current))
            current, size = [], 0
            extra = length
        current.append(line)
        size += extra
    if current:
        pieces.append("\n".join(current))
    return [p for p in pieces if p.strip()] or ([source] if source.strip() else [])


def _split_line(line: str, limit: int) -> list[str]:
    """Cut one overlong line into pieces, never inside a formatted span's markers."""
    pieces: list[str] = []
    current = ""
    size = 0
    for span in markup.parse(line):
        text = span.text
        while text:
            room = limit - size
            if room <= 0:
                pieces.append(current)
                current, size = "", 0
                room = limit
            chunk, text = text[:room], text[room:]
            current += _span_markup(span, chunk)
            size += len(chunk)
    if current:
        pieces.append(current)
    return pieces


def _span_markup(span: markup.Span, text: str) -> str:
    out = markup.escape(text)
    if span.code and "`" not in text:
        out = f"`{text}`"
    if span.italic:
        out = f"*{out}*"
    if span.bold:
        out = f"**{out}**"
    if span.link:
        out = f"[{out}]({span.link})"
    return out


def render_texts(reply: Reply) -> list[str]:
    """Return the HTML texts of the messages that carry ``reply``, in order."""
    return [to_html(piece) for piece in split_markup(reply_markup_text(reply))]
