import express from "express";

import { getCart, postItem } from "./handlers";

const router = express.Router();
router.get("/api/carts/:id", getCart);
router.post("/api/carts/:id/items", postItem);

export default router;
