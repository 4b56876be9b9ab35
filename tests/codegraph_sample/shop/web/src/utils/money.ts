export function formatPrice(cents: number): string {
  return `$${(cents / 100).toFixed(2)}`;
}

export const applyRate = (total: number, rate: number): number => Math.round(total * (1 - rate));
