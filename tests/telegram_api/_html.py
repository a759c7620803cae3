"""Telegram's HTML parse mode: turn marked-up text into plain text plus MessageEntity dicts.

This follows the Bot API server's parser (tdlib ``parse_html``): the same tags, the same
nesting rules, offsets in UTF-16 code units, and the same error texts with UTF-8 byte offsets.
``strict`` additionally refuses a bare ``&`` or ``>`` that real Telegram would let through, so
that a missing escape shows up in tests before it meets a ``<`` in production.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "tg-spoiler",
        "span",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)
_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_SPACE = frozenset(b" \t\r\n\v\f\0")
_NAME_TOKEN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_USER_LINK = re.compile(r"^tg://user\?id=(\d{1,20})$", re.IGNORECASE)
_TRIM = " \t\r\n"


class HtmlError(ValueError):
    """The text is not valid Telegram HTML; ``str(error)`` is Telegram's wording."""


@dataclass
class _Open:
    tag: str
    argument: str
    offset: int


def utf16_len(text: str) -> int:
    """Return the length of ``text`` in UTF-16 code units, as Telegram counts."""
    return len(text.encode("utf-16-le")) // 2


def _decode_entity(data: bytes, pos: int) -> tuple[int, int]:
    """Decode the HTML entity at ``pos``; return (code point or 0, position after it)."""
    size = len(data)

    def at(i: int) -> int:
        return data[i] if i < size else 0

    end = pos + 1
    code = 0
    if at(end) == ord("#"):
        end += 1
        if at(end) == ord("x"):
            end += 1
            while chr(at(end)) in "0123456789abcdefABCDEF" and at(end):
                code = code * 16 + int(chr(data[end]), 16)
                end += 1
        else:
            while ord("0") <= at(end) <= ord("9"):
                code = code * 10 + data[end] - ord("0")
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return 0, pos
    else:
        while chr(at(end)).isascii() and chr(at(end)).isalpha():
            end += 1
        name = data[pos + 1 : end]
        code = {b"lt": 0x3C, b"gt": 0x3E, b"amp": 0x26, b"quot": 0x22}.get(name, 0)
        if code == 0:
            return 0, pos
    if at(end) == ord(";"):
        end += 1
    if 0xD800 <= code <= 0xDFFF:
        raise HtmlError(
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units"
        )
    return code, end


def check_url(url: str) -> str | None:
    """Return Telegram's normalized form of a link target, or None when it is not a URL."""
    if not url or any(ch.isspace() for ch in url):
        return None
    match = _SCHEME.match(url)
    if match is None:
        url = "http://" + url
    elif match.group(1).lower() in {"tg", "ton"}:
        return url
    elif match.group(1).lower() not in {"http", "https"}:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not parts.hostname or "." not in parts.hostname:
        return None
    return url if parts.path else url + "/"


def _entity(open_: _Open, length: int, text_of: str) -> dict[str, Any] | None:
    """Build the Bot API entity for a closed tag, or None when Telegram would drop it."""
    tag, argument = open_.tag, open_.argument
    entity: dict[str, Any] = {"offset": open_.offset, "length": length}
    if tag in _SIMPLE:
        entity["type"] = _SIMPLE[tag]
    elif tag == "a":
        target = argument or text_of
        user = _USER_LINK.match(target)
        if user is not None:
            entity["type"] = "text_mention"
            entity["user"] = {"id": int(user.group(1)), "is_bot": False, "first_name": ""}
        else:
            url = check_url(target)
            if url is None:
                return None
            entity["type"] = "text_link"
            entity["url"] = url
    elif tag == "tg-emoji":
        entity["type"] = "custom_emoji"
        entity["custom_emoji_id"] = argument
    elif tag == "code":
        entity["type"] = "code"
        if argument:
            entity["language"] = argument  # private marker, folded into an enclosing <pre>
    elif tag == "pre":
        entity["type"] = "pre"
    else:  # blockquote
        entity["type"] = "expandable_blockquote" if argument else "blockquote"
    return entity


def parse_html(source: str, *, strict: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Return (plain text, entities) for Telegram HTML, or raise HtmlError with Telegram's text."""
    data = source.encode("utf-8", "surrogatepass")
    size = len(data)

    def at(i: int) -> int:
        return data[i] if i < size else 0

    out = bytearray()
    offset = 0  # UTF-16 offset of the end of ``out``
    stack: list[_Open] = []
    starts: list[int] = []  # byte position in ``out`` where each open tag's content starts
    entities: list[dict[str, Any]] = []
    i = 0
    while i < size:
        c = data[i]
        if c == ord("&"):
            code, end = _decode_entity(data, i)
            if code:
                out += chr(code).encode("utf-8")
                offset += 2 if code > 0xFFFF else 1
                i = end
                continue
            if strict:
                raise HtmlError(f'Unescaped "&" at byte offset {i}, use "&amp;"')
        if c == ord(">") and strict:
            raise HtmlError(f'Unescaped ">" at byte offset {i}, use "&gt;"')
        if c != ord("<"):
            if c & 0xC0 != 0x80:
                offset += 2 if c >= 0xF0 else 1
            out.append(c)
            i += 1
            continue

        begin = i
        i += 1
        if at(i) != ord("/"):
            while at(i) not in _SPACE and at(i) != ord(">"):
                i += 1
            if at(i) == 0:
                raise HtmlError(f"Unclosed start tag at byte offset {begin}")
            tag = data[begin + 1 : i].decode("utf-8", "replace").lower()
            if tag not in SUPPORTED_TAGS:
                raise HtmlError(f'Unsupported start tag "{tag}" at byte offset {begin}')
            argument = ""
            while at(i) != ord(">"):
                while at(i) != 0 and at(i) in _SPACE:
                    i += 1
                if at(i) == ord(">"):
                    break
                name_begin = i
                while at(i) not in _SPACE and at(i) not in (ord("="), ord(">")):
                    i += 1
                name = data[name_begin:i].decode("utf-8", "replace")
                if not name:
                    raise HtmlError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {begin}'
                    )
                while at(i) != 0 and at(i) in _SPACE:
                    i += 1
                if at(i) != ord("="):
                    if tag == "blockquote" and name.lower() == "expandable":
                        argument = "1"
                        continue
                    raise HtmlError(
                        f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                        f"at byte offset {begin}"
                    )
                i += 1
                while at(i) != 0 and at(i) in _SPACE:
                    i += 1
                if at(i) == 0:
                    raise HtmlError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                value = bytearray()
                if at(i) not in (ord("'"), ord('"')):
                    token_begin = i
                    while at(i) in _NAME_TOKEN and at(i) != 0:
                        i += 1
                    value += data[token_begin:i].lower()
                    if at(i) not in _SPACE and at(i) != ord(">"):
                        raise HtmlError(
                            f"Unexpected end of name token at byte offset {token_begin}"
                        )
                else:
                    quote = at(i)
                    i += 1
                    while at(i) != quote and at(i) != 0:
                        if at(i) == ord("&"):
                            code, end = _decode_entity(data, i)
                            if code:
                                value += chr(code).encode("utf-8")
                                i = end
                                continue
                        value.append(at(i))
                        i += 1
                    if at(i) == quote:
                        i += 1
                if at(i) == 0:
                    raise HtmlError(f"Unclosed start tag at byte offset {begin}")
                text_value = value.decode("utf-8", "replace")
                lowered = name.lower()
                if tag == "a" and lowered == "href":
                    argument = text_value
                elif tag == "code" and lowered == "class" and text_value.startswith("language-"):
                    argument = text_value.removeprefix("language-")
                elif tag == "span" and lowered == "class" and text_value.startswith("tg-"):
                    argument = text_value.removeprefix("tg-")
                elif tag == "tg-emoji" and lowered == "emoji-id":
                    argument = text_value
            if tag == "span" and argument != "spoiler":
                raise HtmlError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
            if tag == "tg-emoji" and not (argument.isdigit() and int(argument) > 0):
                raise HtmlError("Invalid custom emoji identifier specified")
            stack.append(_Open(tag, argument, offset))
            starts.append(len(out))
            i += 1
            continue

        if not stack:
            raise HtmlError(f"Unexpected end tag at byte offset {begin}")
        while at(i) not in _SPACE and at(i) != ord(">"):
            i += 1
        end_tag = data[begin + 2 : i].decode("utf-8", "replace")
        while at(i) != 0 and at(i) in _SPACE:
            i += 1
        if at(i) != ord(">"):
            raise HtmlError(f"Unclosed end tag at byte offset {begin}")
        open_ = stack.pop()
        start = starts.pop()
        if end_tag and end_tag != open_.tag:
            raise HtmlError(
                f'Unmatched end tag at byte offset {begin}, expected "</{open_.tag}>", '
                f'found "</{end_tag}>"'
            )
        i += 1
        length = offset - open_.offset
        if length <= 0:
            continue
        entity = _entity(open_, length, out[start:].decode("utf-8", "replace"))
        if entity is None:
            continue
        last = entities[-1] if entities else None
        same_span = (
            last is not None
            and last["offset"] == entity["offset"]
            and last["length"] == entity["length"]
        )
        if same_span and last is not None:
            if entity["type"] == "pre" and last["type"] == "code" and "language" in last:
                last["type"] = "pre"
                continue
            if entity["type"] == "code" and last["type"] == "pre" and "language" in entity:
                last["language"] = entity["language"]
                continue
        entities.append(entity)

    if stack:
        raise HtmlError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)
    return trim(out.decode("utf-8", "surrogatepass"), entities)


def trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Strip leading and trailing whitespace as Telegram does, moving entities along."""
    stripped_left = text.lstrip(_TRIM)
    shift = utf16_len(text) - utf16_len(stripped_left)
    result = stripped_left.rstrip(_TRIM)
    total = utf16_len(result)
    kept: list[dict[str, Any]] = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    kept.sort(key=lambda e: (e["offset"], -e["length"]))
    return result, kept
