import type { Request, Response } from "express";

const carts = new Map<string, { sku: string; qty: number }[]>();

function loadCart(id: string) {
  return carts.get(id) ?? [];
}

export function getCart(req: Request, res: Response) {
  res.json(loadCart(req.params.id));
}

export function postItem(req: Request, res: Response) {
  const lines = loadCart(req.params.id);
  lines.push(req.body);
  carts.set(req.params.id, lines);
  res.status(201).json(lines);
}
