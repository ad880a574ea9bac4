"""Events per minute over the last hour, by status, as a server-rendered SVG (stacked bars):
no JavaScript and no inline style, so the page's CSP stays as strict as it is."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from markupsafe import Markup
from sqlalchemy import select

from core.models import EventStatus
from core.runtime import Runtime
from core.tables import Event, utcnow

MINUTES = 60
#: Stacking order (bottom first) and colour of each status (the badges' colours).
COLOURS = {EventStatus.SUCCEEDED: "#1f7a44", EventStatus.SKIPPED: "#8a93a6", EventStatus.QUEUED: "#2457d6",
           EventStatus.PROCESSING: "#5b8cff", EventStatus.RETRYING: "#d08a00", EventStatus.FAILED: "#b42318"}
#: Enough for a busy hour; beyond it the chart counts the latest this many.
MAX_ROWS = 200_000
WIDTH, HEIGHT, GAP, AXIS = 1080, 110, 3, 24


def per_minute(rt: Runtime, *, now: datetime | None = None) -> list[Counter[str]]:
    """Counts by status for each of the last ``MINUTES`` minutes, oldest first."""
    now = now or utcnow()
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=MINUTES - 1)
    with rt.db.reading() as session:
        rows = session.execute(
            select(Event.received_at, Event.status).where(Event.received_at >= start)
            .order_by(Event.received_at.desc()).limit(MAX_ROWS)
        ).all()
    buckets: list[Counter[str]] = [Counter() for _ in range(MINUTES)]
    for received_at, status in rows:
        index = int((received_at - start).total_seconds() // 60)
        if 0 <= index < MINUTES:
            buckets[index][status] += 1
    return buckets


def svg(buckets: list[Counter[str]]) -> Markup:
    """The chart; every value in it is a number or a constant (nothing to escape)."""
    peak = max((sum(b.values()) for b in buckets), default=0) or 1
    scale = (HEIGHT - 10) / peak
    parts = [f'<svg class="throughput" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT + AXIS}" '
             f'role="img" aria-labelledby="throughput-title"><title id="throughput-title">Events per minute '
             f'over the last hour, by status (peak {peak if any(buckets) else 0} a minute)</title>',
             f'<line x1="0" y1="{HEIGHT}" x2="{WIDTH}" y2="{HEIGHT}" stroke="#c9ceda"/>']
    step = WIDTH / MINUTES
    for index, bucket in enumerate(buckets):
        y = float(HEIGHT)
        for status, colour in COLOURS.items():
            count = bucket.get(status, 0)
            if not count:
                continue
            height = count * scale
            y -= height
            parts.append(f'<rect class="bar bar-{status}" x="{index * step + GAP / 2:.1f}" y="{y:.1f}" '
                         f'width="{step - GAP:.1f}" height="{height:.1f}" fill="{colour}">'
                         f'<title>{count} {status}, {MINUTES - index - 1} min ago</title></rect>')
    for minutes_ago in (60, 45, 30, 15, 0):
        x = WIDTH - (minutes_ago / MINUTES) * WIDTH
        anchor = "start" if minutes_ago == 60 else "end" if minutes_ago == 0 else "middle"
        label = "now" if minutes_ago == 0 else f"-{minutes_ago} min"
        parts.append(f'<text x="{x:.0f}" y="{HEIGHT + 18}" font-size="11" fill="#677085" '
                     f'text-anchor="{anchor}">{label}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def legend() -> list[tuple[str, str]]:
    return list(COLOURS.items())
