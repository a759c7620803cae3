"""Platform-neutral messages: text in light markup, fields, buttons, an image, a file."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MAX_BUTTONS = 25
MAX_FIELDS = 25


class ButtonStyle(StrEnum):
    """How a button looks; platforms without styles ignore it."""

    PRIMARY = "primary"
    SECONDARY = "secondary"
    SUCCESS = "success"
    DANGER = "danger"


@dataclass(frozen=True, slots=True)
class Button:
    """A button that either runs an action (``action`` + ``payload``) or opens ``url``."""

    label: str
    action: str = ""
    payload: str = ""
    style: ButtonStyle = ButtonStyle.SECONDARY
    url: str | None = None

    def __post_init__(self) -> None:
        if bool(self.action) == bool(self.url):
            raise ValueError("a button needs exactly one of action or url")


@dataclass(frozen=True, slots=True)
class Field:
    """A labelled value shown under the text."""

    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True, slots=True)
class Image:
    """An image to attach: raw bytes with a file name, or a URL."""

    data: bytes | None = None
    url: str | None = None
    filename: str = "image.png"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with the reply, like a CSV export."""

    data: bytes
    filename: str
    mime: str = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Reply:
    """What the bot says: the same value is rendered by every adapter."""

    text: str = ""
    title: str | None = None
    fields: tuple[Field, ...] = ()
    buttons: tuple[Button, ...] = ()
    image: Image | None = None
    attachment: Attachment | None = None
    ephemeral: bool = False

    def __post_init__(self) -> None:
        if len(self.buttons) > MAX_BUTTONS:
            raise ValueError(f"a reply holds at most {MAX_BUTTONS} buttons")
        if len(self.fields) > MAX_FIELDS:
            raise ValueError(f"a reply holds at most {MAX_FIELDS} fields")


def as_reply(value: Reply | str) -> Reply:
    """Return ``value`` as a Reply (a string becomes its text)."""
    return value if isinstance(value, Reply) else Reply(text=value)
