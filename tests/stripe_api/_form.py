"""Decode the form encoding the ``stripe`` library sends (``a[b][0][c]=v``) into nested data."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_PART = re.compile(r"[^\[\]]+|\[\]")


def decode(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Turn ``key[sub][0]=value`` pairs into dicts and lists ("true"/"false" stay strings)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _PART.findall(key)
        if not parts:
            continue
        node = root
        for index, part in enumerate(parts):
            if index == len(parts) - 1:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
    return _lists(root)


def _lists(value: Any) -> Any:
    """Turn dicts keyed 0, 1, 2… into lists, all the way down."""
    if not isinstance(value, dict):
        return value
    converted = {k: _lists(v) for k, v in value.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def truthy(value: object) -> bool:
    """Read a form boolean."""
    return value is True or value == "true"
