"""The README's ``cohort stripe simulate`` examples work with the example config."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.core.config import load_config

pytestmark = pytest.mark.backend_free

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = re.compile(r"^cohort stripe simulate (\S+) --member (\S+) --offer (\S+)$", re.M)


def test_every_simulated_offer_is_one_the_example_config_sells() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    examples = EXAMPLE.findall(readme)
    assert len(examples) >= 4
    sold = {o.id for o in load_config(REPO / "config.example.toml").communities[0].offers}
    assert {offer for _event, _member, offer in examples} <= sold
    # A refund needs a payment: one of a course (a tier's comes with its invoice, not simulated).
    refunded = {offer for event, _m, offer in examples if event == "charge.refunded"}
    courses = {
        o.id
        for o in load_config(REPO / "config.example.toml").communities[0].offers
        if o.kind.value == "course"
    }
    assert refunded and refunded <= courses


def test_the_simulate_example_names_the_webhook_secret_it_needs() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("**Try it without paying**") :]
    section = section[: section.index("```\n\n")]
    assert "export COHORT_STRIPE_WEBHOOK_SECRET=" in section
    assert "COHORT_STRIPE_WEBHOOK_SECRET=whsec_try cohort run" in section
