"""The dashboard's chart: contacts synced per minute over 24 hours, as server-rendered SVG.

No JavaScript and nothing fetched: an area of the per-minute counts, a grid with labelled
axes, and one invisible band per quarter hour whose ``<title>`` the browser shows on hover.
Colours come from the admin's CSS variables, so the dark theme applies.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 960, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 30
BAND_MINUTES = 15
TICK_HOURS = 3


def nice_ceiling(value: float) -> int:
    """The smallest of 1, 2, 5 x 10^k at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return int(step * power)
    return int(10 * power)  # pragma: no cover (the loop always returns)


def _points(values: Sequence[int], top: int) -> list[tuple[float, float]]:
    """(x, y) of every minute, without the inner points of flat runs (mostly zeros)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(values) - 1, 1)
    points: list[tuple[float, float]] = []
    for i, value in enumerate(values):
        flat = 0 < i < len(values) - 1 and values[i - 1] == value == values[i + 1]
        if not flat:
            points.append((LEFT + i * step, TOP + plot_h - plot_h * value / top))
    return points


def _grid(top: int) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = []
    for i in range(5):
        value = top * i // 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
            'class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:,}</text>'
        )
    return parts


def _x_ticks(start: dt.datetime, minutes: int) -> list[str]:
    plot_w = WIDTH - LEFT - RIGHT
    local = timezone.localtime(start)
    parts = []
    for i in range(minutes):
        moment = local + dt.timedelta(minutes=i)
        if moment.minute == 0 and moment.hour % TICK_HOURS == 0:
            x = LEFT + plot_w * i / max(minutes - 1, 1)
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{HEIGHT - BOTTOM}" '
                f'y2="{HEIGHT - BOTTOM + 4}" class="axis"/>'
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 17}" text-anchor="middle">'
                f"{moment:%H:%M}</text>"
            )
    return parts


def _bands(values: Sequence[int], start: dt.datetime) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    width = plot_w * BAND_MINUTES / max(len(values), 1)
    local = timezone.localtime(start)
    parts = []
    for first in range(0, len(values), BAND_MINUTES):
        chunk = values[first : first + BAND_MINUTES]
        begin = local + dt.timedelta(minutes=first)
        end = begin + dt.timedelta(minutes=len(chunk))
        title = (
            f"{begin:%H:%M}\u2013{end:%H:%M}: {sum(chunk):,} contacts synced "
            f"(peak {max(chunk):,}/min, average {sum(chunk) / len(chunk):,.0f}/min)"
        )
        x = LEFT + plot_w * first / len(values)
        parts.append(
            f'<rect x="{x:.1f}" y="{TOP}" width="{width:.1f}" height="{plot_h}" class="band">'
            f"<title>{escape(title)}</title></rect>"
        )
    return parts


def per_minute_svg(values: Sequence[int], start: dt.datetime) -> SafeString:
    """The chart of ``values`` (one a minute from ``start``), as inline SVG."""
    top = nice_ceiling(max(values, default=0) * 1.05)
    points = _points(values, top) or [(LEFT, HEIGHT - BOTTOM)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    base = HEIGHT - BOTTOM
    area = f"M{points[0][0]:.1f},{base} L{line} L{points[-1][0]:.1f},{base} Z"
    total = sum(values)
    label = f"Contacts synced per minute over the last 24 hours: {total:,} in all"
    empty = (
        ""
        if total
        else f'<text x="{(WIDTH + LEFT) / 2}" y="{HEIGHT / 2}" text-anchor="middle" '
        'class="empty">Nothing synced in the last 24 hours</text>'
    )
    svg = (
        f'<svg class="crmsync-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>"
        f"{''.join(_grid(top))}"
        f'<path d="{area}" class="area"/>'
        f'<polyline points="{line}" class="line"/>'
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}" class="axis"/>'
        f"{''.join(_x_ticks(start, len(values)))}"
        f'<text x="14" y="{TOP + (HEIGHT - TOP - BOTTOM) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {TOP + (HEIGHT - TOP - BOTTOM) / 2})">per minute</text>'
        f"{empty}{''.join(_bands(values, start))}</svg>"
    )
    return mark_safe(svg)  # noqa: S308  (numbers and escaped text only)
