import { Route, Routes } from "react-router-dom";

import { CartView } from "./components/CartView";
import { CartModel } from "./models/cart";
import Checkout from "./pages/Checkout";

const cart = new CartModel();

export function App() {
  return (
    <Routes>
      <Route path="/cart" element={<CartView cart={cart} />} />
      <Route path="/checkout" element={<Checkout cartId="c-1" />} />
    </Routes>
  );
}
