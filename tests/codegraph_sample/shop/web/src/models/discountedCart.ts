import { applyRate } from "../utils/money";
import { CartModel } from "./cart";

export class DiscountedCart extends CartModel {
  constructor(private rate: number) {
    super();
  }

  total(): number {
    return applyRate(super.total(), this.rate);
  }
}
