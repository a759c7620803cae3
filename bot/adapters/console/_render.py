"""Render a Reply as terminal text, with buttons numbered for ``/press``."""

from __future__ import annotations

from bot.core import markup
from bot.core.replies import Reply

BOLD = "\x1b[1m"
DIM = "\x1b[2m"
RESET = "\x1b[0m"


def _text(source: str, *, color: bool) -> str:
    out: list[str] = []
    for span in markup.parse(source):
        text = span.text
        if span.code:
            text = f"`{text}`" if not color else f"{DIM}{text}{RESET}"
        elif span.bold and color:
            text = f"{BOLD}{text}{RESET}"
        if span.link:
            text = f"{text} <{span.link}>"
        out.append(text)
    return "".join(out)


def render(reply: Reply, *, button_numbers: list[int], color: bool = False) -> str:
    """Return the lines a terminal shows for ``reply``; button i is numbered button_numbers[i]."""
    lines: list[str] = []
    if reply.title:
        title = _text(reply.title, color=False)
        lines.append(f"{BOLD}{title}{RESET}" if color else f"== {title} ==")
    if reply.text:
        lines.extend(_text(reply.text, color=color).splitlines())
    for field in reply.fields:
        value = _text(field.value, color=color)
        name = _text(field.name, color=False)
        if "\n" in value:
            lines.append(f"{name}:")
            lines.extend(f"  {line}" for line in value.splitlines())
        else:
            lines.append(f"{name}: {value}")
    if reply.image is not None:
        lines.append(f"[image: {reply.image.url or reply.image.filename}]")
    if reply.attachment is not None:
        lines.append(f"[file: {reply.attachment.filename}, {len(reply.attachment.data):,} bytes]")
    if reply.buttons:
        cells = []
        for number, button in zip(button_numbers, reply.buttons, strict=True):
            target = f" <{button.url}>" if button.url else ""
            cells.append(f"[{number}] {button.label}{target}")
        lines.append("  ".join(cells))
    return "\n".join(lines)
