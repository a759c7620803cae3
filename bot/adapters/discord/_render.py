"""Render a Reply as Discord message parts: Markdown content or an embed, a file, a view."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any

import discord

from bot.core import markup
from bot.core.replies import ButtonStyle, Reply

CONTENT_LIMIT = 2000
DESCRIPTION_LIMIT = 4096
TITLE_LIMIT = 256
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
LABEL_LIMIT = 80
EMBED_COLOUR = 0x5865F2
_SPECIAL = re.compile(r"([\\*_~`|>#\[\]<])")
_TIMESTAMP = re.compile(r"(<t:-?[0-9]{1,13}(?::[tTdDfFR])?>)")

STYLES = {
    ButtonStyle.PRIMARY: discord.ButtonStyle.primary,
    ButtonStyle.SECONDARY: discord.ButtonStyle.secondary,
    ButtonStyle.SUCCESS: discord.ButtonStyle.success,
    ButtonStyle.DANGER: discord.ButtonStyle.danger,
}
# Never ping anyone from a reply: names in replies are text, not notifications.
NO_PINGS = discord.AllowedMentions.none()


def escape(text: str) -> str:
    """Escape Discord Markdown (and mention syntax) so text shows as typed.

    Timestamps (``<t:1764790200:F>``) stay as they are: Discord shows them in each reader's
    own zone and language, which is why the cogs write them.
    """
    parts = _TIMESTAMP.split(text)
    return "".join(
        part if index % 2 else _SPECIAL.sub(r"\\\1", part) for index, part in enumerate(parts)
    )


def to_markdown(source: str) -> str:
    """Return light markup as Discord Markdown; every character of text is escaped."""
    out: list[str] = []
    for span in markup.parse(source):
        if span.code:
            text = span.text.replace("`", "ˋ")
            text = f"`{text}`" if text.strip() else escape(span.text)
        else:
            text = escape(span.text)
        if span.italic:
            text = f"*{text}*"
        if span.bold:
            text = f"**{text}**"
        if span.link:
            text = f"[{text}]({span.link.replace(')', '%29')})"
        out.append(text)
    return "".join(out)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Rendered:
    """The parts of one Discord message (without its view)."""

    content: str | None = None
    embed: discord.Embed | None = None
    files: list[discord.File] = field(default_factory=list)

    def send_kwargs(self) -> dict[str, Any]:
        """Return keyword arguments for ``send``/``send_message``/``followup.send``."""
        kwargs: dict[str, Any] = {"allowed_mentions": NO_PINGS}
        if self.content is not None:
            kwargs["content"] = self.content
        if self.embed is not None:
            kwargs["embed"] = self.embed
        if self.files:
            kwargs["files"] = self.files
        return kwargs

    def edit_kwargs(self) -> dict[str, Any]:
        """Return keyword arguments for ``edit`` (replacing content and embed)."""
        kwargs: dict[str, Any] = {
            "content": self.content,
            "embed": self.embed,
            "allowed_mentions": NO_PINGS,
        }
        if self.files:
            kwargs["attachments"] = self.files
        return kwargs


def render(reply: Reply) -> Rendered:
    """Render a reply: plain content when it is short text, else an embed.

    Text longer than an embed's description holds is cut with an ellipsis.
    """
    text = to_markdown(reply.text) if reply.text else ""
    attached = (
        [discord.File(io.BytesIO(reply.attachment.data), filename=reply.attachment.filename)]
        if reply.attachment is not None
        else []
    )
    simple = not reply.title and not reply.fields and reply.image is None
    if simple and len(text) <= CONTENT_LIMIT:
        return Rendered(content=text or "\u200b", files=attached)
    embed = discord.Embed(
        title=_cut(markup.plain(reply.title), TITLE_LIMIT) if reply.title else None,
        description=_cut(text, DESCRIPTION_LIMIT) if text else None,
        colour=EMBED_COLOUR,
    )
    for item in reply.fields:
        embed.add_field(
            name=_cut(markup.plain(item.name), FIELD_NAME_LIMIT) or "\u200b",
            value=_cut(to_markdown(item.value), FIELD_VALUE_LIMIT) or "\u200b",
            inline=item.inline,
        )
    files: list[discord.File] = attached
    if reply.image is not None:
        if reply.image.data is not None:
            name = reply.image.filename
            files.append(discord.File(io.BytesIO(reply.image.data), filename=name))
            embed.set_image(url=f"attachment://{name}")
        elif reply.image.url:
            embed.set_image(url=reply.image.url)
    return Rendered(embed=embed, files=files)


def label(text: str) -> str:
    """Fit a button label into Discord's 80 characters."""
    return _cut(markup.plain(text), LABEL_LIMIT) or "\u200b"
