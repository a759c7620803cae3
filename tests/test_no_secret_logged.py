"""No secret reaches the log: the bot at DEBUG on Telegram, Discord and Stripe's stand-ins.

``cohort --log-level DEBUG run`` as a real process, and ``serve`` in this process with the
CLI's logging setup; every byte logged is searched for every secret in every written form.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.core import logs
from bot.core.logs import REDACTED, Redactor, written_forms
from bot.runtime import serve
from tests.conftest import make_config
from tests.discord_api import DiscordServer
from tests.stripe_api import MONTH, StripeServer
from tests.telegram_api import TelegramServer
from tests.test_cli import EXAMPLE, _env
from tests.web.test_app import free_port

TELEGRAM_TOKEN = "424242:AAsecret-telegram-key_0123456789"
WEBHOOK_SECRET = "secret-webhook-token_0123456789"
DISCORD_TOKEN = "MTAwMDAw.secret-discord.key_0123456789"
STRIPE_KEY = "sk_test_secret-stripe-key_0123456789"
STRIPE_SIGNING = "whsec_secret-stripe-signing_0123456789"
SECRETS = [TELEGRAM_TOKEN, WEBHOOK_SECRET, DISCORD_TOKEN, STRIPE_KEY, STRIPE_SIGNING]

GUILD, GENERAL = 111111111111111111, 222000000000000001
DISCORD_BOB = 300000000000000002
GROUP, TELEGRAM_BOB = -1001234567890, 600


def config_text(port: int, tg: TelegramServer, dc: DiscordServer, stripe: StripeServer) -> str:
    """Return the example config pointed at the stand-ins, with the Telegram webhook on."""
    replacements = [
        ("port = 8080", f"port = {port}"),
        ('api_base = "https://discord.com/api/v10"', f'api_base = "{dc.api_base}"'),
        ('# base_url = "http://127.0.0.1:8081/bot"', f'base_url = "{tg.base_url}"'),
        ('mode = "polling"', 'mode = "webhook"'),
        ("# webhook_url =", "webhook_url ="),
        ('# api_base = "http://127.0.0.1:12111"', f'api_base = "{stripe.base_url}"'),
        ("discord_guilds = []", f"discord_guilds = [{GUILD}]"),
        ("telegram_chats = []", f"telegram_chats = [{GROUP}]"),
    ]
    text = EXAMPLE
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


@pytest.mark.slow
@pytest.mark.backend_free
async def test_no_configured_secret_reaches_the_log_at_debug(tmp_path: Path) -> None:
    port = free_port()
    async with (
        TelegramServer(token=TELEGRAM_TOKEN) as tg,
        DiscordServer(token=DISCORD_TOKEN) as dc,
        StripeServer(api_key=STRIPE_KEY, webhook_secret=STRIPE_SIGNING) as stripe,
    ):
        tg.add_chat(GROUP, "supergroup", title="Demo")
        tg.add_user(TELEGRAM_BOB, "Bob", username="bob", language_code="en")
        tg.add_member(GROUP, TELEGRAM_BOB)
        tg.add_chat(TELEGRAM_BOB, "private")
        dc.add_user(DISCORD_BOB, "Bob")
        dc.add_guild(GUILD, "Demo", owner_id=DISCORD_BOB)
        dc.add_channel(GUILD, GENERAL, "general")
        dc.add_member(GUILD, DISCORD_BOB)
        stripe.add_price("price_pro_monthly", 1500, interval=MONTH)
        (tmp_path / "config.toml").write_text(config_text(port, tg, dc, stripe), encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "--log-level",
            "DEBUG",
            "run",
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={
                **_env(),
                "COHORT_TELEGRAM_TOKEN": TELEGRAM_TOKEN,
                "COHORT_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "COHORT_DISCORD_TOKEN": DISCORD_TOKEN,
                "COHORT_STRIPE_SECRET_KEY": STRIPE_KEY,
                "COHORT_STRIPE_WEBHOOK_SECRET": STRIPE_SIGNING,
            },
        )
        output = asyncio.create_task(process.communicate())
        try:
            await tg.wait_for(lambda: tg.called("setWebhook"), timeout=60)
            await dc.wait_for(lambda: dc.commands.get(GUILD), timeout=30)
            await dc.answered(dc.run_command(GUILD, GENERAL, DISCORD_BOB, "help"), timeout=15)
            async with aiohttp.ClientSession() as http:
                webhook = f"http://127.0.0.1:{port}/telegram/webhook"
                header = "X-Telegram-Bot-Api-Secret-Token"
                tg.user_says(TELEGRAM_BOB, TELEGRAM_BOB, "/join pro")
                update = tg.pending_updates[-1]
                async with http.post(webhook, json=update, headers={header: "wrong"}) as answer:
                    assert answer.status == 403
                async with http.post(webhook, json=update, headers={header: WEBHOOK_SECRET}) as a:
                    assert a.status == 200
                await tg.wait_for(lambda: stripe.sessions, timeout=15)
                hook = f"http://127.0.0.1:{port}/stripe/webhook"
                for event in stripe.pay(next(iter(stripe.sessions))):
                    assert await stripe.deliver(http, hook, event) == 200
                body = json.dumps(stripe.event("customer.created", {"id": "cus_x"})).encode()
                forged = {"Stripe-Signature": "t=1,v1=00"}
                async with http.post(hook, data=body, headers=forged) as answer:
                    assert answer.status == 400
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            stdout, stderr = await asyncio.wait_for(output, 60)
    logged = stdout.decode() + stderr.decode()
    assert process.returncode == 0, logged[-3000:]
    for library in ("httpx", "httpcore", "telegram", "discord", "stripe", "bot.web"):
        assert re.search(rf" [A-Z]+ {re.escape(library)}[\w.]*: ", logged), library
    assert_no_secret(logged)


def assert_no_secret(logged: str) -> None:
    """Fail if any secret, in any written form, is in ``logged``; or if nothing was redacted."""
    for secret in SECRETS:
        for form in written_forms(secret):
            assert form not in logged, f"{form!r} is in the log"
    assert REDACTED in logged


async def test_every_handler_redacts_while_the_bot_runs_in_this_process(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    stream = io.StringIO()
    library = logging.StreamHandler(io.StringIO())  # one a library added before the start
    logging.getLogger("telegram").addHandler(library)
    try:
        async with (
            TelegramServer(token=TELEGRAM_TOKEN) as tg,
            DiscordServer(token=DISCORD_TOKEN) as dc,
        ):
            dc.add_user(DISCORD_BOB, "Bob")
            dc.add_guild(GUILD, "Demo", owner_id=DISCORD_BOB)
            dc.add_channel(GUILD, GENERAL, "general")
            dc.add_member(GUILD, DISCORD_BOB)
            config = make_config(
                tmp_path,
                discord={"token": DISCORD_TOKEN, "api_base": dc.api_base},
                telegram={"token": TELEGRAM_TOKEN, "base_url": tg.base_url},
                community={"discord_guilds": [GUILD]},
            )
            stop = asyncio.Event()
            with logs.configured("DEBUG", stream):
                running = asyncio.create_task(serve(config, stop=stop))
                try:
                    await dc.wait_for(lambda: dc.commands.get(GUILD), timeout=30)
                    await tg.wait_for(lambda: tg.called("getUpdates"), timeout=30)
                    unguarded = [
                        handler
                        for handler in logs.every_handler()
                        if not isinstance(handler, logging.NullHandler)
                        and not any(isinstance(f, Redactor) for f in handler.filters)
                    ]
                    assert unguarded == []
                    # discord.py's setup_logging never ran: its logger has only its NullHandler.
                    assert all(
                        isinstance(h, logging.NullHandler)
                        for h in logging.getLogger("discord").handlers
                    )
                finally:
                    stop.set()
                    assert await asyncio.wait_for(running, 30) == 0
    finally:
        logging.getLogger("telegram").removeHandler(library)
    captured = capfd.readouterr()
    assert_no_secret(stream.getvalue() + captured.err + captured.out)
    assert isinstance(library.stream, io.StringIO)
    assert_no_secret(library.stream.getvalue())
