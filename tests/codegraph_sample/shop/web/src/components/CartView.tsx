import { CartModel } from "../models/cart";
import { formatPrice } from "../utils/money";
import LineItem from "./LineItem";

export function CartView({ cart }: { cart: CartModel }) {
  return (
    <div>
      <ul>
        {cart.lines.map((line) => (
          <LineItem key={line.sku} line={line} />
        ))}
      </ul>
      <strong>{formatPrice(cart.total())}</strong>
    </div>
  );
}
