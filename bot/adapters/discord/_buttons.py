"""Cohort's buttons on Discord: one dynamic item matches every custom id the codec makes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

if TYPE_CHECKING:
    from bot.adapters.discord._client import CohortClient

# Discord's limit on a component's custom id.
CUSTOM_ID_LIMIT = 100


class CohortButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"(?s)(?P<data>[as]\|.+)",
):
    """A button whose custom id is ``ButtonCodec`` data (``a|action|payload`` or ``s|id``).

    It is matched by its template, not stored with its message, so a press works after a
    restart without re-registering views.
    """

    def __init__(
        self,
        data: str,
        label: str = "\u200b",
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
    ) -> None:
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=data))
        self.data = data

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: Any,
        /,
    ) -> CohortButton:
        """Rebuild the button from a pressed custom id."""
        return cls(match["data"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Hand the press to the adapter."""
        client: CohortClient = interaction.client
        await client.adapter.on_press(interaction, self.data)
