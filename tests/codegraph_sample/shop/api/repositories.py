"""Carts by id."""

from api.base import Repository
from api.models import Cart


class CartRepository(Repository):
    def load(self, cart_id):
        return self.get(cart_id) or Cart()
