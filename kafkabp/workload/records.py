"""Realistic records for processing lessons: about 1 KB of JSON per order, made up but well formed."""

from __future__ import annotations

import json
import random

_PRODUCTS = ["keyboard", "monitor", "laptop stand", "usb-c cable", "headset", "webcam", "desk lamp",
             "notebook", "pen set", "backpack", "mouse", "charger", "speaker", "microphone"]
_CITIES = ["Lisbon", "Nairobi", "Osaka", "Lima", "Tallinn", "Montreal", "Pune", "Accra", "Perth", "Bergen"]


def order(i: int, rng: random.Random) -> dict:
    """One order: a customer, 5-8 line items with prices, an address, a status history."""
    items = [{"sku": f"SKU-{rng.randrange(10_000, 99_999)}", "name": rng.choice(_PRODUCTS),
              "quantity": rng.randint(1, 4), "unit_price": round(rng.uniform(2, 400), 2)}
             for _ in range(rng.randint(5, 8))]
    return {
        "order_id": f"ord-{i:09d}",
        "customer": {"id": f"cus-{rng.randrange(1, 50_000):06d}", "email": f"user{rng.randrange(1, 50_000)}@example.com",
                     "tier": rng.choice(["free", "plus", "pro"])},
        "items": items,
        "total": round(sum(it["quantity"] * it["unit_price"] for it in items), 2),
        "currency": rng.choice(["EUR", "USD", "JPY", "KES"]),
        "shipping": {"city": rng.choice(_CITIES), "street": f"{rng.randint(1, 300)} Example Street",
                     "postcode": f"{rng.randrange(10_000, 99_999)}", "express": rng.random() < 0.2},
        "status_history": [{"status": s, "at": 1_760_000_000 + i * 7 + k * 60}
                           for k, s in enumerate(["created", "paid", "packed"][: rng.randint(1, 3)])],
        "notes": rng.choice(["", "leave at the door", "gift wrap, please", "call before delivery"]),
    }


def orders(n: int = 1000, seed: int = 0) -> list[bytes]:
    """``n`` JSON-encoded orders (about 1 KB each): payloads for ``RateProducer(payloads=...)``."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a whole number >= 1, got {n!r}")
    rng = random.Random(seed)
    return [json.dumps(order(i, rng)).encode() for i in range(n)]
