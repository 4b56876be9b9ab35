import pytest
from api.models import Cart, Product
from api.validation import ValidationError


def make_cart(*prices):
    cart = Cart()
    for n, price in enumerate(prices):
        cart.add(Product(f"sku-{n}", price))
    return cart


class TestCart:
    def test_total(self):
        assert make_cart(100, 250).total() == 350

    def test_rejects_zero(self):
        with pytest.raises(ValidationError):
            Cart().add(Product("a", 1), 0)
