"""The aiohttp web app: health now; the Stripe webhook, calendar and dashboard join it later."""
