from api.models import Product
from api.pricing import apply_discount, line_total


def test_line_total():
    assert line_total(Product("a", 250), 2) == 500


def test_discount():
    assert apply_discount(1000, "WELCOME10") == 900
