import { request } from "./client";

export function addItem(cartId: string, sku: string, qty: number) {
  return request(`/api/carts/${cartId}/items`, { method: "POST", body: JSON.stringify({ sku, qty }) });
}

export const submitOrder = (cartId: string, email: string) =>
  request(`/api/carts/${cartId}/checkout`, { method: "POST", body: JSON.stringify({ email }) });
