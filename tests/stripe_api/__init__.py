"""A loopback Stripe API stand-in, and webhook deliveries signed as Stripe signs them."""

from tests.stripe_api._account import MONTH, YEAR, Price
from tests.stripe_api._objects import API_VERSION
from tests.stripe_api._server import DEFAULT_KEY, DEFAULT_SECRET, StripeServer, sign

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
