"""The /dashboard command: a private, single-use sign-in link for organizers and admins."""

from __future__ import annotations

from bot.cogs.dashboard._service import DashboardAuth
from bot.core.commands import CommandSpec, Permission
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.replies import Button, Reply


class DashboardCog:
    """Turn ``/dashboard`` into a link."""

    def __init__(self, auth: DashboardAuth) -> None:
        self.auth = auth

    async def dashboard(self, ctx: Context) -> Reply:
        """Reply, only to the caller, with a fresh sign-in link."""
        if not self.auth.config.enabled:
            raise UserError("dashboard.link.web_off")
        url = await self.auth.issue_link(ctx.community, ctx.member.id)
        valid = ctx.duration(self.auth.config.dashboard_link_ttl)
        # Chat apps refuse a button to a bare address (Telegram: "wrong HTTP URL"): the link is
        # in the text; the button comes only with a configured public_url.
        public = self.auth.config.public_url is not None
        return Reply(
            title=ctx.plain("dashboard.link.title"),
            text=ctx.t("dashboard.link.text", url=url, valid=valid),
            buttons=(Button(ctx.plain("dashboard.link.open"), url=url),) if public else (),
            ephemeral=True,
        )

    def commands(self) -> tuple[CommandSpec, ...]:
        """Return the cog's commands."""
        return (
            CommandSpec(
                "dashboard",
                "dashboard.command.description",
                self.dashboard,
                permission=Permission.ORGANIZER,
            ),
        )
