"""CPU per healing record: the locator healer against snapshots up to the topic's maximum record size.

    .venv/bin/python -m bench.healing_cpu

Issue 14's bound is 100 ms of CPU a record, whatever the record. Each snapshot is healed for three kinds of
failure (a selector naming a test id, one naming a text, a full `last_known_element`), cold (the similarity
caches cleared), 3 times; the median CPU time (min-max) and the outcome are printed. Valid pages hold the
target (a renamed test id, a reworded label) in their middle, within dom.MAX_ELEMENTS; the hostile ones hold
no target. "gave up" is the CPU deadline (budget.HEAL_CPU_BUDGET_S) answering for the record.
"""

from __future__ import annotations

import random
import statistics
import string
import time
from typing import Any

from argus_streams.healing import budget, dom, locator
from argus_streams.healing.budget import HealingTimeout

TARGET = "<button data-testid='checkout-now' class='buy primary' aria-label='order now'>Place your order now</button>"
FAILURES: dict[str, dict[str, Any]] = {
    "test id": {"selector": "[data-testid=checkout]"},
    "text": {"selector": "button:has-text('Place your order now please')"},
    "full element": {"selector": "#buy", "last_known_element": {
        "tag": "button", "text": "Place your order now please", "path": "html>body>main>button",
        "classes": ["buy", "primary"], "attributes": {"data-testid": "checkout", "aria-label": "order now"}}},
}


def snapshots() -> dict[str, str]:
    rnd = random.Random(1)

    def word(n: int) -> str:
        return "".join(rnd.choice(string.ascii_lowercase) for _ in range(n))

    def row(i: int) -> str:  # 3 elements, shared traits
        return f"<div class='row'><span>Item {i}</span><button class='buy'>Buy</button></div>"

    def card(i: int) -> str:  # 2 elements, every one different
        return (f"<div class='card c-{i % 50}' data-testid='card-{i}'><a href='/p/{i}' title='{word(20)}' "
                f"aria-label='open {word(12)}'>{word(30)} {i}</a></div>")

    def page(parts: list[str]) -> str:
        middle = len(parts) // 2
        return "<main>" + "".join(parts[:middle]) + TARGET + "".join(parts[middle:]) + "</main>"

    found = {}
    for elements in (1_500, 3_000, dom.MAX_ELEMENTS):
        found[f"rows, {elements:,} elements"] = page([row(i) for i in range(elements // 3)])
        found[f"cards, {elements:,} elements"] = page([card(i) for i in range(elements // 2)])
    found["rows, 1 MB (36,000 elements; cut)"] = "<main>" + TARGET + "".join(row(i) for i in range(12_000)) + "</main>"
    found["hostile: 1 MiB of <b>"] = "<b>" * 349_000
    parts, size = [], 0
    while size < 1_000_000:
        parts.append(f"<button data-testid='{word(190)}' class='{word(8)} {word(8)}' aria-label='{word(60)}'>"
                     f"{word(150)}</button>")
        size += len(parts[-1])
    found["hostile: 1 MB of distinct long labels"] = "".join(parts)
    return found


def main() -> None:
    print(f"CPU budget {budget.HEAL_CPU_BUDGET_S * 1000:.0f} ms a record, dom.MAX_ELEMENTS {dom.MAX_ELEMENTS:,}; "
          "median of 3 (min-max), cold caches")
    print(f"{'snapshot':40s} {'bytes':>9s}  " + "  ".join(f"{name:>28s}" for name in FAILURES))
    worst = 0.0
    for name, snapshot in snapshots().items():
        cells = []
        for details in FAILURES.values():
            times, outcome = [], ""
            for _ in range(3):
                locator.similarity.cache_clear()
                locator._char_counts.cache_clear()
                started = time.process_time()
                try:
                    outcome = locator.heal({**details, "dom_snapshot": snapshot}).status
                except HealingTimeout:
                    outcome = "gave up"
                times.append((time.process_time() - started) * 1000)
            worst = max(worst, *times)
            cells.append(f"{statistics.median(times):4.0f} ms ({min(times):.0f}-{max(times):.0f}) {outcome:10s}")
        print(f"{name:40s} {len(snapshot):9,d}  " + "  ".join(f"{cell:>28s}" for cell in cells))
    print(f"slowest record: {worst:.0f} ms of CPU")


if __name__ == "__main__":
    main()
