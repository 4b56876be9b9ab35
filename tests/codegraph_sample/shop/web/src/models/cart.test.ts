import { formatPrice } from "../utils/money";
import { CartModel, sumLines } from "./cart";

describe("CartModel", () => {
  it("adds lines", () => {
    const cart = new CartModel();
    cart.add("a", 250, 2);
    expect(sumLines(cart.lines)).toBe(500);
  });

  it("rejects a zero quantity", () => {
    expect(() => new CartModel().add("a", 1, 0)).toThrow(RangeError);
  });
});

test("formats cents", () => {
  expect(formatPrice(1999)).toBe("$19.99");
});
