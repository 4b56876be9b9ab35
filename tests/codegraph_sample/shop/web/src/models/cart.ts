export interface Line {
  sku: string;
  price: number;
  qty: number;
}

export function sumLines(lines: Line[]): number {
  return lines.reduce((sum, line) => sum + line.price * line.qty, 0);
}

export class CartModel {
  lines: Line[] = [];

  add(sku: string, price: number, qty = 1) {
    this.validate(qty);
    this.lines.push({ sku, price, qty });
  }

  total(): number {
    return sumLines(this.lines);
  }

  private validate(qty: number) {
    if (qty <= 0) {
      throw new RangeError("quantity must be positive");
    }
  }
}
