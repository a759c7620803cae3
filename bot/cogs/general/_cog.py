"""Handlers of the general commands; the rules live in the core and in ``_help``."""

from __future__ import annotations

from bot.cogs.general._help import usage, visible_commands
from bot.core import markup
from bot.core.commands import ActionSpec, Choice, CommandSpec, Option, OptionKind
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.i18n import SUPPORTED_LOCALES, normalize_locale
from bot.core.replies import Button, ButtonStyle, Field, Reply

LANGUAGE_CHOICES = (
    Choice("en", "general.lang.name_en"),
    Choice("zh", "general.lang.name_zh_CN"),
    Choice("auto", "general.lang.name_auto"),
)


async def help_command(ctx: Context, command: str | None = None) -> Reply:
    """List the commands the caller may run, or explain one of them."""
    tiers = await ctx.cohort.entitlements.tiers_of(ctx.member.id, ctx.now())
    specs = visible_commands(ctx.cohort.registry, ctx.role, tiers)
    if command:
        wanted = command.strip().lstrip("/").lower()
        matches = [s for s in specs if s.name == wanted or s.path[0] == wanted]
        if not matches:
            raise UserError("general.help.no_such", name=wanted)
        fields = tuple(
            Field(
                name=usage(spec),
                value="\n".join(
                    [ctx.t(spec.description_key)]
                    + [f"• `{o.name}`: {ctx.t(o.description_key)}" for o in spec.options]
                ),
            )
            for spec in matches
        )
        return Reply(title=ctx.plain("general.help.title_one", name=wanted), fields=fields)
    lines = [f"`/{spec.name}` — {ctx.t(spec.description_key)}" for spec in specs]
    return Reply(
        title=ctx.plain("general.help.title"),
        text="\n".join(lines) + "\n\n" + ctx.t("general.help.more"),
        buttons=_language_buttons(ctx),
    )


def _language_buttons(ctx: Context) -> tuple[Button, ...]:
    return tuple(
        Button(
            label=ctx.plain(f"general.lang.name_{locale}"),
            action="general.lang",
            payload=locale,
            style=ButtonStyle.PRIMARY if locale == ctx.locale else ButtonStyle.SECONDARY,
        )
        for locale in SUPPORTED_LOCALES
    )


async def whoami_command(ctx: Context) -> Reply:
    """Show the caller's member id, role, language and linked accounts."""
    accounts = await ctx.cohort.identity.accounts_of(ctx.member.id)
    lines = []
    for account in accounts:
        handle = f" (@{markup.escape(account.username)})" if account.username else ""
        platform = ctx.t(f"platform.{account.platform.value}")
        lines.append(f"• {platform}: {markup.escape(account.display_name)}{handle}")
    return Reply(
        title=ctx.plain("general.whoami.title"),
        fields=(
            Field(ctx.plain("general.whoami.member"), f"#{ctx.member.id}", inline=True),
            Field(ctx.plain("general.whoami.role"), ctx.t(f"general.role.{ctx.role.value}"), True),
            Field(
                ctx.plain("general.whoami.language"), ctx.t(f"general.lang.name_{ctx.locale}"), True
            ),
            Field(ctx.plain("general.whoami.accounts"), "\n".join(lines)),
        ),
        text=ctx.t("general.whoami.link_hint") if len(accounts) == 1 else "",
        ephemeral=True,
    )


async def link_command(ctx: Context, code: str | None = None) -> Reply:
    """Give a one-time code, or redeem one from another platform."""
    identity = ctx.cohort.identity
    if not code:
        issued = await identity.create_link_code(ctx.account)
        minutes = max(1, int(identity.link_code_ttl.total_seconds() // 60))
        return Reply(
            text=ctx.t("general.link.issued", code=issued.code, minutes=minutes),
            ephemeral=True,
        )
    survivor = await identity.redeem_link_code(ctx.account, code)
    accounts = await identity.accounts_of(survivor)
    names = ", ".join(ctx.plain(f"platform.{a.platform.value}") for a in accounts)
    return Reply(text=ctx.t("general.link.done", platforms=names), ephemeral=True)


async def lang_command(ctx: Context, language: str | None = None) -> Reply:
    """Show or set the language Cohort speaks to the caller."""
    if language is None:
        return Reply(
            text=ctx.t("general.lang.current", name=ctx.plain(f"general.lang.name_{ctx.locale}")),
            buttons=_language_buttons(ctx),
            ephemeral=True,
        )
    return await _set_language(ctx, language)


async def _set_language(ctx: Context, language: str) -> Reply:
    chosen = None if language == "auto" else normalize_locale(language)
    if language != "auto" and chosen is None:
        raise UserError("general.lang.unknown", value=language)
    await ctx.cohort.identity.set_locale(ctx.member.id, chosen)
    ctx.locale = chosen or normalize_locale(ctx.account.locale) or ctx.community.config.locale
    return Reply(
        text=ctx.t("general.lang.set", name=ctx.plain(f"general.lang.name_{ctx.locale}")),
        ephemeral=True,
    )


async def lang_button(ctx: Context, payload: str) -> Reply:
    """Switch language from a button on /help or /lang."""
    return await _set_language(ctx, payload)


COMMANDS = (
    CommandSpec(
        name="help",
        description_key="general.help.description",
        handler=help_command,
        options=(
            Option("command", OptionKind.TEXT, "general.help.option_command", required=False),
        ),
    ),
    CommandSpec(
        name="whoami", description_key="general.whoami.description", handler=whoami_command
    ),
    CommandSpec(
        name="link",
        description_key="general.link.description",
        handler=link_command,
        options=(
            Option(
                "code", OptionKind.TEXT, "general.link.option_code", required=False, max_length=32
            ),
        ),
    ),
    CommandSpec(
        name="lang",
        description_key="general.lang.description",
        handler=lang_command,
        options=(
            Option(
                "language",
                OptionKind.CHOICE,
                "general.lang.option_language",
                required=False,
                choices=LANGUAGE_CHOICES,
            ),
        ),
    ),
)

ACTIONS = (ActionSpec("general.lang", lang_button),)
