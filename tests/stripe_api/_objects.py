"""How Stripe serialises objects for the pinned API version: includable fields and ``expand``.

Stripe leaves some fields out of an object unless the request expands them (*includable*
fields, like ``Invoice.payments`` since 2025-03-31.basil, or ``Charge.refunds``): they are
absent from API responses that do not ask for them and from every webhook event. Expandable
fields are ids unless expanded. An ``expand`` path Stripe does not know is a 400.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

API_VERSION = "2026-10-28.endive"  # what the stand-in serialises for (the stripe SDK v16 pin)

# Fields Stripe sends only when expanded, by object type.
INCLUDABLE: dict[str, frozenset[str]] = {
    "invoice": frozenset({"payments"}),
    "charge": frozenset({"refunds"}),
    "checkout.session": frozenset({"line_items"}),
}
# Fields holding an id that ``expand`` turns into the object, by object type.
EXPANDABLE: dict[str, frozenset[str]] = {
    "invoice_payment": frozenset({"invoice"}),
    "refund": frozenset({"charge"}),
    "dispute": frozenset({"charge"}),
    "charge": frozenset({"customer"}),
    "subscription": frozenset({"customer", "latest_invoice"}),
    "invoice": frozenset({"customer"}),
}

Lookup = Callable[[str], dict[str, Any]]  # an id -> the stored object (KeyError if none)


class BadExpand(ValueError):
    """An ``expand`` path that names no includable or expandable field."""


def render(obj: dict[str, Any], expand: list[str], lookup: Lookup) -> dict[str, Any]:
    """Return ``obj`` as Stripe would send it to a request expanding ``expand``."""
    tree = _tree(expand)
    return _render(obj, tree, lookup)


def render_list(
    url: str, items: list[dict[str, Any]], has_more: bool, expand: list[str], lookup: Lookup
) -> dict[str, Any]:
    """Return a list page; its items are expanded by the ``data.``-prefixed paths."""
    tree = _tree(expand)
    unknown = set(tree) - {"data"}
    if unknown:
        raise BadExpand(f"This property cannot be expanded ({sorted(unknown)[0]}).")
    inner = tree.get("data", {})
    return {
        "object": "list",
        "url": url,
        "has_more": has_more,
        "data": [_render(item, inner, lookup) for item in items],
    }


def _tree(paths: list[str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for part in str(path).split("."):
            node = node.setdefault(part, {})
    return tree


def _render(obj: dict[str, Any], tree: dict[str, Any], lookup: Lookup) -> dict[str, Any]:
    kind = str(obj.get("object", ""))
    includable = INCLUDABLE.get(kind, frozenset())
    expandable = EXPANDABLE.get(kind, frozenset())
    for name in tree:
        if name not in includable and name not in expandable:
            raise BadExpand(f"This property cannot be expanded ({name}).")
    out: dict[str, Any] = {}
    for key, stored in obj.items():
        if key.startswith("_") or (key in includable and key not in tree):
            continue
        value = copy.deepcopy(stored)
        if key in tree:
            if key in expandable and isinstance(value, str):
                value = _render(lookup(value), tree[key], lookup)
            elif isinstance(value, dict) and value.get("object") == "list":
                inner = tree[key].get("data", {})
                value = {**value, "data": [_render(v, inner, lookup) for v in value["data"]]}
        out[key] = value
    return out
