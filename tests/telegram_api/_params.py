"""Reading Bot API parameters the way the Bot API server does, and its error responses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

# Parameters whose values are plain strings: never JSON-decode them ("123" stays "123").
STRING_PARAMS = frozenset(
    {
        "action",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "custom_title",
        "data",
        "description",
        "emoji",
        "file_id",
        "icon_custom_emoji_id",
        "inline_message_id",
        "invite_link",
        "ip_address",
        "language_code",
        "message_effect_id",
        "name",
        "parse_mode",
        "photo",
        "document",
        "secret_token",
        "short_description",
        "text",
        "title",
        "url",
    }
)


class ApiError(Exception):
    """A Bot API failure: Telegram's error code, description, and optional retry_after."""

    def __init__(self, code: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        """Return the JSON body Telegram sends for this error."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(what: str) -> ApiError:
    """Return a 400 with Telegram's "Bad Request: " prefix."""
    return ApiError(400, f"Bad Request: {what}")


@dataclass(frozen=True)
class UploadedFile:
    """A file the client uploaded as a multipart part."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes


def decode_value(name: str, value: Any) -> Any:
    """Decode one parameter: JSON-typed fields arrive as JSON text in form bodies."""
    if not isinstance(value, str) or name in STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


async def read_params(request: web.Request) -> dict[str, Any]:
    """Collect query, form, multipart or JSON parameters of a request into one decoded dict."""
    raw: dict[str, Any] = dict(request.query)
    content_type = request.content_type
    if content_type == "application/json":
        try:
            body = await request.json()
        except ValueError as exc:
            raise bad_request("can't parse JSON encoded request") from exc
        if not isinstance(body, dict):
            raise bad_request("can't parse JSON encoded request")
        raw.update(body)
    elif content_type == "multipart/form-data":
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            payload = await part.read(decode=False)
            if part.filename is not None:
                raw[part.name] = UploadedFile(
                    field=part.name,
                    filename=part.filename,
                    content_type=part.headers.get("Content-Type"),
                    data=bytes(payload),
                )
            else:
                raw[part.name] = bytes(payload).decode("utf-8", "replace")
    elif content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        raw.update({key: value for key, value in form.items() if isinstance(value, str)})
    return {name: decode_value(name, value) for name, value in raw.items()}


class Params:
    """Typed access to one request's parameters, failing the way the Bot API does."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = dict(values)

    def raw(self, name: str) -> Any:
        """Return a parameter as decoded, or None when it is absent or empty."""
        value = self.values.get(name)
        return None if value == "" else value

    def has(self, name: str) -> bool:
        """Return whether the parameter was given with a non-empty value."""
        return self.raw(name) is not None

    def str_(self, name: str) -> str | None:
        """Return a string parameter."""
        value = self.raw(name)
        if value is None or isinstance(value, UploadedFile):
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else json.dumps(value)

    def int_(self, name: str) -> int | None:
        """Return an integer parameter."""
        value = self.raw(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise bad_request(f'field "{name}" must be of type Integer')

    def number(self, name: str) -> float | None:
        """Return a numeric parameter."""
        value = self.raw(name)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        try:
            return float(str(value))
        except ValueError:
            raise bad_request(f'field "{name}" must be a Number') from None

    def require_int(self, name: str) -> int:
        """Return an integer parameter that must be present."""
        value = self.int_(name)
        if value is None:
            raise bad_request(f"{name} is empty")
        return value

    def bool_(self, name: str) -> bool:
        """Return a boolean parameter (absent means false)."""
        value = self.raw(name)
        if value is None:
            return False
        if isinstance(value, str):
            return value.strip().lower() in {"true", "1", "yes", "on"}
        return bool(value)

    def json_(self, name: str, what: str | None = None) -> Any:
        """Return a JSON-typed parameter (object or array), already decoded."""
        value = self.raw(name)
        if isinstance(value, str | bytes | UploadedFile):
            raise bad_request(f"can't parse {what or name} JSON object")
        return value

    def chat_ref(self, name: str = "chat_id") -> int | str:
        """Return a chat reference: a numeric id or an ``@username``."""
        value = self.raw(name)
        if value is None:
            raise bad_request(f"{name} is empty")
        if isinstance(value, bool):
            raise bad_request("chat not found")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        text = str(value).strip()
        try:
            return int(text)
        except ValueError:
            if text.startswith("@") and len(text) > 1:
                return text
            raise bad_request("chat not found") from None
