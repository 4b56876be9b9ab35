"""HTTP routes."""

from flask import Flask, request

from api.models import Product
from api.repositories import CartRepository
from api.services import checkout

app = Flask(__name__)
carts = CartRepository()


def _load(cart_id):
    return carts.load(cart_id)


@app.get("/api/carts/<cart_id>")
def get_cart(cart_id):
    return {"total": _load(cart_id).total()}


@app.post("/api/carts/<cart_id>/items")
def add_item(cart_id):
    cart = _load(cart_id)
    cart.add(Product(request.json["sku"], request.json["price"]), request.json.get("qty", 1))
    carts.save(cart_id, cart)
    return {"total": cart.total()}


@app.route("/api/carts/<cart_id>/checkout", methods=["POST"])
def post_checkout(cart_id):
    return checkout(_load(cart_id), request.json["email"], request.json.get("code"))
