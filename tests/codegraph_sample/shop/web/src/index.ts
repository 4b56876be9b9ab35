export * from "./models/cart";
export { formatPrice } from "./utils/money";
