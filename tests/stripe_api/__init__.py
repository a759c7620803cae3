"""A loopback Stripe API stand-in, and webhook deliveries signed as Stripe signs them."""

from tests.stripe_api._server import (
    API_VERSION,
    DEFAULT_KEY,
    DEFAULT_SECRET,
    MONTH,
    YEAR,
    Price,
    StripeServer,
    sign,
)

__all__ = [
    "API_VERSION",
    "DEFAULT_KEY",
    "DEFAULT_SECRET",
    "MONTH",
    "YEAR",
    "Price",
    "StripeServer",
    "sign",
]
