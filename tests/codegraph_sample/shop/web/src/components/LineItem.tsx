import { Line } from "../models/cart";
import { formatPrice } from "../utils/money";

export default function LineItem({ line }: { line: Line }) {
  return (
    <li>
      {line.sku} x {line.qty}: {formatPrice(line.price * line.qty)}
    </li>
  );
}
