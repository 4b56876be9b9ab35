"""The side-by-side benchmark as a picture: events/s per contender (median, min-max) and latency percentiles.

    .venv/bin/python -m bench.chart .state/side-by-side/results-<time>.json   # -> results-<time>.svg

`bench/side_by_side.py` writes the chart next to its JSON at the end of each run; this redraws one from a
JSON it wrote. Plain SVG (no plotting library): throughput on a log scale, because the contenders span
three orders of magnitude (the seed's loop at ~100/s, a bare consumer at ~60,000/s).
"""

from __future__ import annotations

import html
import json
import math
import sys
from pathlib import Path
from typing import Any

LABEL_W, BAR_W, ROW_H, MARGIN = 170, 520, 26, 16
COLOURS = {"flink": "#2563eb", "quix": "#f59e0b", "seed": "#9ca3af"}
DEFAULT_COLOUR = "#6b7280"


def _x(value: float, low: float, high: float) -> float:
    """Position of `value` on the log axis from `low` to `high`, in pixels from the bars' left edge."""
    return BAR_W * (math.log10(value) - math.log10(low)) / (math.log10(high) - math.log10(low))


def chart(summary: dict[str, dict[str, Any]], title: str) -> str:
    measured = {name: row for name, row in summary.items() if row.get("events_per_s")}
    names = sorted(measured, key=lambda name: -measured[name]["events_per_s"])
    low = 10 ** math.floor(math.log10(0.99 * min(measured[n].get("min") or measured[n]["events_per_s"] for n in names)))
    high = 10 ** math.ceil(math.log10(max(measured[n].get("max") or measured[n]["events_per_s"] for n in names)))
    latency = [n for n in names if measured[n].get("p99_ms")]
    top = MARGIN + 40
    height = top + len(names) * ROW_H + 40 + (30 + len(latency) * ROW_H * 2 if latency else 0) + MARGIN
    width = MARGIN * 2 + LABEL_W + BAR_W + 120
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} '
           f'{height}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
           f'<text x="{MARGIN}" y="{MARGIN + 12}" font-size="14" font-weight="bold">{html.escape(title)}</text>',
           f'<text x="{MARGIN}" y="{MARGIN + 30}" fill="#4b5563">events/s, median of the runs (line: min-max), '
           'log scale</text>']
    left = MARGIN + LABEL_W
    decade = low
    while decade <= high:  # grid lines per power of ten
        x = left + _x(decade, low, high)
        out.append(f'<line x1="{x}" y1="{top - 4}" x2="{x}" y2="{top + len(names) * ROW_H}" stroke="#e5e7eb"/>')
        out.append(f'<text x="{x}" y="{top + len(names) * ROW_H + 14}" text-anchor="middle" font-size="10" '
                   f'fill="#6b7280">{decade:,.0f}</text>')
        decade *= 10
    for row, name in enumerate(names):
        stats, y = measured[name], top + row * ROW_H
        colour = COLOURS.get(name, DEFAULT_COLOUR)
        median = stats["events_per_s"]
        out.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{html.escape(name)}</text>')
        out.append(f'<rect x="{left}" y="{y + 4}" width="{max(_x(median, low, high), 1):.1f}" height="{ROW_H - 10}" '
                   f'fill="{colour}"/>')
        if stats.get("min") and stats.get("max"):
            x1, x2 = left + _x(stats["min"], low, high), left + _x(stats["max"], low, high)
            out.append(f'<line x1="{x1:.1f}" y1="{y + ROW_H / 2}" x2="{x2:.1f}" y2="{y + ROW_H / 2}" '
                       'stroke="#111827" stroke-width="1.5"/>')
        out.append(f'<text x="{left + BAR_W + 8}" y="{y + 15}">{median:,.0f}</text>')
    if latency:
        base = top + len(names) * ROW_H + 40
        slowest = max(measured[n]["p99_ms"] for n in latency)
        out.append(f'<text x="{MARGIN}" y="{base + 12}" fill="#4b5563">publish -> graph latency (ms), p50 and '
                   'p99, linear scale</text>')
        for row, name in enumerate(latency):
            y = base + 24 + row * ROW_H * 2
            out.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{html.escape(name)}</text>')
            for n, key in enumerate(("p50_ms", "p99_ms")):
                value = measured[name][key] or 0
                bar = BAR_W * value / slowest
                out.append(f'<rect x="{left}" y="{y + 4 + n * ROW_H * 0.8}" width="{max(bar, 1):.1f}" '
                           f'height="{ROW_H * 0.6}" fill="{COLOURS.get(name, DEFAULT_COLOUR)}" '
                           f'opacity="{0.55 if n == 0 else 1}"/>')
                out.append(f'<text x="{left + bar + 6:.1f}" y="{y + 15 + n * ROW_H * 0.8}" font-size="11">'
                           f'{key[:3]} {value:,.0f}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_chart(results: Path) -> Path:
    """The chart of one results JSON of bench/side_by_side.py, written beside it (same name, .svg)."""
    data = json.loads(results.read_text())
    title = (f"side by side: {data['events']:,} events of {data['event_bytes']} B, median of {data['runs']} "
             f"run(s), {data['cores']} cores")
    path = results.with_suffix(".svg")
    path.write_text(chart(data["summary"], title))
    return path


if __name__ == "__main__":
    for argument in sys.argv[1:] or sys.exit(__doc__):
        print(write_chart(Path(argument)))
