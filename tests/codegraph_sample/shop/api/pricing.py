"""Prices and discounts, in cents."""

DISCOUNTS = {"WELCOME10": 10, "VIP": 25}


def line_total(product, qty):
    return product.price * qty


def discount_rate(code):
    return DISCOUNTS.get(code, 0)


def apply_discount(total, code):
    return total - total * discount_rate(code) // 100
