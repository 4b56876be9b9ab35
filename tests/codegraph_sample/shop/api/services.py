"""Checkout."""

from api import notify
from api.pricing import apply_discount


def checkout(cart, email, code=None):
    total = apply_discount(cart.total(), code)
    return notify.send_receipt(email, total)
