"""Domain models."""

from dataclasses import dataclass

from api.pricing import line_total
from api.validation import check_quantity


@dataclass
class Product:
    sku: str
    price: int


class Cart:
    def __init__(self):
        self.lines = {}

    def add(self, product, qty=1):
        check_quantity(qty)
        self.lines[product.sku] = (product, self.lines.get(product.sku, (product, 0))[1] + qty)

    def total(self):
        return sum(line_total(product, qty) for product, qty in self.lines.values())
