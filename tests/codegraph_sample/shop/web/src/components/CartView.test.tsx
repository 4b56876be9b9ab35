import { render } from "@testing-library/react";

import { DiscountedCart } from "../models/discountedCart";
import { CartView } from "./CartView";

test("renders the discounted total", () => {
  const cart = new DiscountedCart(0.1);
  cart.add("a", 1000);
  render(<CartView cart={cart} />);
});
