"""Charts drawn on the server as inline SVG (pure): black on white, told apart by shape and dash, never by colour alone.

Each chart is an `<svg role="img">` with a `<title>` saying what it shows; the page puts the same numbers in a table
beside it for screen readers (`table.numbers`). Only presentation attributes, no `style`: the app's CSP refuses
inline styles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

INK = "#111"
GREY = "#888"
FONT = 'font-family="system-ui, sans-serif" font-size="11"'
# Negative bars are hatched, positive ones solid: the sign reads in black and white and to colour-blind readers.
HATCH = (
    '<defs><pattern id="{id}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
    f'<line x1="0" y1="0" x2="0" y2="6" stroke="{INK}" stroke-width="2"/></pattern></defs>'
)


def _svg(chart_id: str, title: str, width: int, height: int, body: list[str]) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="{escape(chart_id)}-title" '
        f'id="{escape(chart_id)}" class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
    )
    return Markup(head + "".join(body) + "</svg>")


def _text(x: float, y: float, words: object, anchor: str = "start", weight: str = "normal") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-weight="{weight}" fill="{INK}" {FONT}>'
        f"{escape(str(words))}</text>"
    )


def nice_top(value: float) -> float:
    """The smallest 1, 2 or 5 × 10^k at or above `value`: round axis ends."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def number(value: float | None, digits: int = 0) -> str:
    """A number for a chart label: thousands separated, `—` when missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:,.{digits}f}"


def trend(
    chart_id: str,
    points: Sequence[tuple[str, float]],
    *,
    title: str,
    threshold: float | None = None,
    width: int = 480,
    height: int = 160,
    small: bool = False,
    alert_words: str = "alert at {level}",
) -> Markup:
    """A probability (0..1) over runs: a line with square markers, the alert threshold dashed (labelled with
    `alert_words`, in the page's language); `small` drops the axes (a sparkline in a list)."""
    left, right, top, bottom = (2, 2, 2, 2) if small else (36, 12, 10, 22)
    plot_w, plot_h = width - left - right, height - top - bottom
    body: list[str] = []

    def x(i: int) -> float:
        return left + (plot_w * i / (len(points) - 1) if len(points) > 1 else plot_w / 2)

    def y(p: float) -> float:
        return top + plot_h * (1 - min(max(p, 0.0), 1.0))

    if not small:
        for tick in (0.0, 0.5, 1.0):
            body.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                        f'stroke="{GREY}" stroke-width="0.5"/>')  # fmt: skip
            body.append(_text(left - 4, y(tick) + 4, f"{tick:.0%}", "end"))
        if points:
            body.append(_text(x(0), height - 6, points[0][0], "start"))
            if len(points) > 1:
                body.append(_text(x(len(points) - 1), height - 6, points[-1][0], "end"))
    if threshold is not None:
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y(threshold):.1f}" y2="{y(threshold):.1f}" '
                    f'stroke="{INK}" stroke-width="1" stroke-dasharray="4 3"/>')  # fmt: skip
        if not small:
            body.append(_text(width - right, y(threshold) - 3, alert_words.format(level=f"{threshold:.0%}"), "end"))
    if points:
        path = " ".join(f"{x(i):.1f},{y(p):.1f}" for i, (_, p) in enumerate(points))
        body.append(f'<polyline points="{path}" fill="none" stroke="{INK}" stroke-width="{1.5 if small else 2}"/>')
        size = 2 if small else 3
        for i, (_, p) in enumerate(points):
            body.append(f'<rect x="{x(i) - size:.1f}" y="{y(p) - size:.1f}" width="{2 * size}" height="{2 * size}" '
                        f'fill="{INK}"/>')  # fmt: skip
    return _svg(chart_id, title, width, height, body)


@dataclass(frozen=True)
class Interval:
    label: str
    p10: float
    p50: float
    p90: float
    unit: str


def intervals(chart_id: str, rows: Sequence[Interval], *, title: str, width: int = 560) -> Markup:
    """One row per quantity, each on its own axis from 0: a line from P10 to P90 with end ticks, a diamond at P50,
    the three numbers written beside them."""
    row_h, left, right = 56, 110, 24
    height = row_h * len(rows) + 8
    plot_w = width - left - right
    body: list[str] = []
    for n, row in enumerate(rows):
        top = 8 + n * row_h
        axis_top = nice_top(max(row.p90, row.p50, row.p10, 1e-9) * 1.05)

        def x(value: float, axis_top: float = axis_top) -> float:
            return left + plot_w * min(max(value, 0.0), axis_top) / axis_top

        mid = top + 20
        body.append(_text(0, mid + 4, row.label, weight="bold"))
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{top + 38}" y2="{top + 38}" stroke="{GREY}"/>')
        for tick in (0.0, axis_top / 2, axis_top):
            body.append(_text(x(tick), top + 51, f"{number(tick)} {row.unit}" if tick else "0", "middle"))
        body.append(f'<line x1="{x(row.p10):.1f}" x2="{x(row.p90):.1f}" y1="{mid}" y2="{mid}" stroke="{INK}" '
                    f'stroke-width="3"/>')  # fmt: skip
        for end in (row.p10, row.p90):
            body.append(f'<line x1="{x(end):.1f}" x2="{x(end):.1f}" y1="{mid - 8}" y2="{mid + 8}" stroke="{INK}" '
                        f'stroke-width="2"/>')  # fmt: skip
        cx = x(row.p50)
        body.append(f'<polygon points="{cx:.1f},{mid - 8} {cx + 8:.1f},{mid} {cx:.1f},{mid + 8} {cx - 8:.1f},{mid}" '
                    f'fill="#fff" stroke="{INK}" stroke-width="2"/>')  # fmt: skip
        body.append(_text(x(row.p10), mid - 11, f"P10 {number(row.p10)}", "end"))
        body.append(_text(cx, mid - 11, f"P50 {number(row.p50)}", "middle", "bold"))
        body.append(_text(x(row.p90), mid - 11, f"P90 {number(row.p90)}", "start"))
    return _svg(chart_id, title, width, height, body)


def signed_bars(chart_id: str, bars: Sequence[tuple[str, float]], *, title: str, unit: str, width: int = 560) -> Markup:
    """Factors as bars from a zero line: what raises the prediction to the right (solid), what lowers it to the left
    (hatched), each with its signed amount written at the bar's end."""
    row_h, label_w = 22, 250
    height = row_h * max(len(bars), 1) + 10
    plot_left, plot_w = label_w + 10, width - label_w - 20
    zero = plot_left + plot_w / 2
    scale = max((abs(effect) for _, effect in bars), default=1.0) or 1.0
    body = [HATCH.format(id=escape(chart_id))]
    body.append(f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="0" y2="{height}" stroke="{INK}"/>')
    for n, (label, effect) in enumerate(bars):
        top = 5 + n * row_h
        length = (plot_w / 2 - 40) * abs(effect) / scale
        x0 = zero if effect >= 0 else zero - length
        fill = INK if effect >= 0 else f"url(#{escape(chart_id)}-hatch)"
        body.append(_text(0, top + 14, label[:48] + ("…" if len(label) > 48 else "")))
        body.append(f'<rect x="{x0:.1f}" y="{top + 3}" width="{max(length, 1):.1f}" height="{row_h - 8}" '
                    f'fill="{fill}" stroke="{INK}"/>')  # fmt: skip
        end, anchor = (zero + length + 4, "start") if effect >= 0 else (zero - length - 4, "end")
        body.append(_text(end, top + 14, f"{effect:+,.1f} {unit}", anchor))
    return _svg(chart_id, title, width, height, body)


def planned_vs_actual(
    chart_id: str,
    rows: Sequence[tuple[str, float | None, float | None]],
    *,
    title: str,
    unit: str,
    width: int = 560,
    words: tuple[str, str] = ("planned", "actual"),
) -> Markup:
    """Pairs of bars per project: planned (outlined) above actual (solid), on one axis from 0; `words` label them
    (in the page's language)."""
    row_h, label_w = 44, 150
    height = row_h * max(len(rows), 1) + 24
    plot_w = width - label_w - 70
    values = [v for _, planned, actual in rows for v in (planned, actual) if v is not None and math.isfinite(v)]
    axis_top = nice_top(max(values, default=1.0))
    body: list[str] = []
    for n, (label, planned, actual) in enumerate(rows):
        top = 4 + n * row_h
        body.append(_text(0, top + 22, label[:24]))
        for k, (word, value, fill) in enumerate(((words[0], planned, "#fff"), (words[1], actual, INK))):
            y = top + 4 + k * 18
            length = plot_w * (value or 0.0) / axis_top
            body.append(f'<rect x="{label_w}" y="{y}" width="{max(length, 1):.1f}" height="14" fill="{fill}" '
                        f'stroke="{INK}"/>')  # fmt: skip
            body.append(_text(label_w + length + 4, y + 11, f"{word} {number(value)} {unit}"))
    body.append(_text(label_w, height - 6, "0"))
    body.append(_text(label_w + plot_w, height - 6, f"{number(axis_top)} {unit}", "end"))
    return _svg(chart_id, title, width, height, body)


def reliability(
    chart_id: str,
    bins: Sequence[tuple[float, float, int]],
    *,
    title: str,
    width: int = 320,
    height: int = 320,
    words: tuple[str, str] = ("predicted", "observed"),
) -> Markup:
    """Predicted (x) against observed (y) rate per bin; the dashed diagonal is perfect calibration, squares sized by
    how many predictions fall in the bin; `words` name the axes (in the page's language)."""
    left, bottom, pad = 40, 34, 10
    side_w, side_h = width - left - pad, height - bottom - pad

    def x(p: float) -> float:
        return left + side_w * min(max(p, 0.0), 1.0)

    def y(p: float) -> float:
        return pad + side_h * (1 - min(max(p, 0.0), 1.0))

    body = [
        f'<rect x="{left}" y="{pad}" width="{side_w}" height="{side_h}" fill="none" stroke="{GREY}"/>',
        f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="{INK}" stroke-dasharray="4 3"/>',
    ]
    for tick in (0.0, 0.5, 1.0):
        body.append(_text(x(tick), height - bottom + 14, f"{tick:.0%}", "middle"))
        body.append(_text(left - 4, y(tick) + 4, f"{tick:.0%}", "end"))
    body.append(_text(left + side_w / 2, height - 4, words[0], "middle"))
    body.append(_text(left + 4, pad + 12, words[1]))
    most = max((count for _, _, count in bins), default=1) or 1
    if bins:
        path = " ".join(f"{x(p):.1f},{y(o):.1f}" for p, o, _ in bins)
        body.append(f'<polyline points="{path}" fill="none" stroke="{INK}" stroke-width="1.5"/>')
    for predicted, observed, count in bins:
        size = 2 + 4 * math.sqrt(count / most)
        body.append(f'<rect x="{x(predicted) - size:.1f}" y="{y(observed) - size:.1f}" width="{2 * size:.1f}" '
                    f'height="{2 * size:.1f}" fill="{INK}"/>')  # fmt: skip
    return _svg(chart_id, title, width, height, body)


def scatter(
    chart_id: str,
    points: Sequence[tuple[float, float, bool]],
    *,
    title: str,
    unit: str,
    width: int = 360,
    height: int = 360,
    words: tuple[str, str] = ("estimated P50", "actual"),
) -> Markup:
    """Estimated (x) against actual (y) on one scale; the dashed diagonal is a perfect estimate; a filled circle is
    an actual inside its 80 % interval, an open one outside it; `words` name the axes (in the page's language)."""
    left, bottom, pad = 56, 34, 10
    side_w, side_h = width - left - pad, height - bottom - pad
    top_value = nice_top(max((max(a, b) for a, b, _ in points), default=1.0))

    def x(v: float) -> float:
        return left + side_w * min(max(v, 0.0), top_value) / top_value

    def y(v: float) -> float:
        return pad + side_h * (1 - min(max(v, 0.0), top_value) / top_value)

    body = [f'<rect x="{left}" y="{pad}" width="{side_w}" height="{side_h}" fill="none" stroke="{GREY}"/>',
            f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(top_value)}" y2="{y(top_value)}" stroke="{INK}" '
            f'stroke-dasharray="4 3"/>']  # fmt: skip
    for tick in (0.0, top_value / 2, top_value):
        body.append(_text(x(tick), height - bottom + 14, number(tick), "middle"))
        body.append(_text(left - 4, y(tick) + 4, number(tick), "end"))
    body.append(_text(left + side_w / 2, height - 4, f"{words[0]} ({unit})", "middle"))
    body.append(_text(left + 4, pad + 12, f"{words[1]} ({unit})"))
    for estimated, actual, inside in points:
        fill = INK if inside else "#fff"
        body.append(f'<circle cx="{x(estimated):.1f}" cy="{y(actual):.1f}" r="4" fill="{fill}" stroke="{INK}"/>')
    return _svg(chart_id, title, width, height, body)
