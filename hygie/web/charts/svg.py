"""SVG building blocks: the result type, escaping, the accessible root element, the palette,
hatch patterns and the legend.

Every chart is ``<svg role="img" aria-labelledby="ID-title ID-desc" direction="ltr">`` with a
``<title>`` and a ``<desc>`` (the plain-language summary), a ``viewBox`` and ``width="100%"`` so it
scales to the column it sits in, colours as SVG presentation attributes (the site's
Content-Security-Policy forbids ``style`` attributes; CSS can still override them through the
``hy-chart*`` class names) and no script. Text is escaped here, once, whatever its origin.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Palette (contrast against white and against the light band fills: tests/web/charts)
WHITE = "#ffffff"
INK = "#212b32"  # text, axes, NEWS2 markers: 14.4:1 on white
MUTED = "#4c6272"  # secondary text and axis lines: 6.4:1 on white
GRID = "#d8dde0"  # decorative grid lines (not needed to read values)
BLUE = "#005eb8"  # first series: 6.3:1 on white
PLUM = "#7c2855"  # second series (diastolic): 9.7:1 on white
BAND_BLUE = "#c6dcf2"  # min–max band and AGP 5–95 band
BAND_BLUE_DARK = "#3f78bf"  # AGP 25–75 band: 3.2:1 against the 5–95 band around it
MEDIAN = "#00152e"  # AGP median: 4:1 on the 25–75 band
GREEN = "#006b35"  # target lines and labels: 6.7:1 on white, 4.7:1 on the light blue band
TARGET_FILL = "#e6f3ea"
LOW_FILL = "#eef6f0"
MEDIUM_FILL = "#fff1c7"
HIGH_FILL = "#fde2df"
HATCH_MEDIUM = "#d9a600"
HATCH_HIGH = "#e7948c"
LIGHT_FILLS = (WHITE, BAND_BLUE, TARGET_FILL, LOW_FILL, MEDIUM_FILL, HIGH_FILL)

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', 'Noto Sans Arabic', sans-serif"
FONT_SIZE = 13
CHAR_WIDTH = 7.2  # average advance of one character at FONT_SIZE, for layout estimates

_RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")  # Hebrew, Arabic and their forms
_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
# Characters XML 1.0 forbids (a NUL in a hostile label must not break the page)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True, slots=True)
class Table:
    """The chart's data as a table: plain-text caption, headers and already formatted cells."""

    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Chart:
    """A rendered chart: ``svg`` is safe markup (every text escaped); ``table`` and ``summary``
    are plain text carrying everything the picture shows (templates escape them as usual).
    ``{{ chart }}`` in a Jinja2 template inserts the SVG (``__html__``)."""

    svg: str
    table: Table
    summary: str

    def __html__(self) -> str:
        return self.svg


def clean(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (a NUL in a label must not break a page)."""
    return _NOT_XML.sub("", text)


def escape(text: str) -> str:
    """``text`` safe inside an SVG element or a double-quoted attribute."""
    text = _NOT_XML.sub("", text)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def num(value: float) -> str:
    """A coordinate with at most one decimal (``12``, ``12.5``)."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def text_width(text: str, size: float = FONT_SIZE) -> float:
    return len(text) * CHAR_WIDTH * size / FONT_SIZE


def chart_id(given: str | None, *seed: str) -> str:
    """A caller's id (checked), or a stable one derived from the chart's content."""
    if given is None:
        return "hc-" + hashlib.sha256("\x1f".join(seed).encode()).hexdigest()[:10]
    if not _ID.fullmatch(given):
        raise ValueError("chart_id must be a letter then letters, digits, '-' or '_' (64 at most)")
    return given


class Canvas:
    """Elements of one chart, rendered inside the accessible root element."""

    def __init__(self, cid: str, kind: str, width: float, height: float, *, fixed: bool = False) -> None:
        """``fixed``: drawn at its own size (a sparkline), else as wide as its column."""
        self.cid, self.kind, self.width, self.height, self.fixed = cid, kind, width, height, fixed
        self.defs: list[str] = []
        self.body: list[str] = []

    def add(self, tag: str, attrs: Mapping[str, str | float], text: str | None = None) -> None:
        """One element; attribute names are the code's own, values and text are escaped."""
        rendered = "".join(
            f' {k}="{num(v) if isinstance(v, int | float) else escape(v)}"' for k, v in attrs.items()
        )
        if text is None:
            self.body.append(f"<{tag}{rendered}/>")
        else:
            self.body.append(f"<{tag}{rendered}>{escape(text)}</{tag}>")

    def text(
        self,
        x: float,
        y: float,
        content: str,
        cls: str,
        *,
        anchor: str = "start",
        fill: str = INK,
        size: float = FONT_SIZE,
        weight: str = "normal",
    ) -> None:
        """A label; one holding right-to-left letters is wrapped in a Unicode right-to-left
        isolate, so that it reads as one right-to-left phrase in the left-to-right drawing."""
        if _RTL.search(content):
            content = f"\u2067{content}\u2069"
        attrs: dict[str, str | float] = {"x": x, "y": y, "class": cls, "fill": fill, "text-anchor": anchor}
        if size != FONT_SIZE:
            attrs["font-size"] = size
        if weight != "normal":
            attrs["font-weight"] = weight
        self.add("text", attrs, content)

    def hatch(self, name: str, color: str, *, angle: int = 45, spacing: int = 6) -> str:
        """A diagonal-line pattern (so bands differ by more than their colour); its url."""
        pid = f"{self.cid}-{name}"
        self.defs.append(
            f'<pattern id="{pid}" width="{spacing}" height="{spacing}" patternUnits="userSpaceOnUse" '
            f'patternTransform="rotate({angle})"><line x1="0" y1="0" x2="0" y2="{spacing}" '
            f'stroke="{color}" stroke-width="2"/></pattern>'
        )
        return f"url(#{pid})"

    def dots(self, name: str, color: str, *, spacing: int = 6) -> str:
        """A dotted pattern; its url."""
        pid = f"{self.cid}-{name}"
        self.defs.append(
            f'<pattern id="{pid}" width="{spacing}" height="{spacing}" patternUnits="userSpaceOnUse">'
            f'<circle cx="{spacing / 2}" cy="{spacing / 2}" r="1.2" fill="{color}"/></pattern>'
        )
        return f"url(#{pid})"

    def render(self, title: str, desc: str) -> str:
        cid = self.cid
        size = f'width="{num(self.width)}" height="{num(self.height)}"' if self.fixed else 'width="100%"'
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" id="{cid}" class="hy-chart hy-chart--{self.kind}" '
            f'viewBox="0 0 {num(self.width)} {num(self.height)}" {size} '
            f'preserveAspectRatio="xMidYMid meet" role="img" aria-labelledby="{cid}-title {cid}-desc" '
            f'direction="ltr" font-family="{escape(FONT)}" font-size="{FONT_SIZE}">'
            f'<title id="{cid}-title">{escape(title)}</title><desc id="{cid}-desc">{escape(desc)}</desc>'
        )
        defs = f"<defs>{''.join(self.defs)}</defs>" if self.defs else ""
        return head + defs + "".join(self.body) + "</svg>"


def no_data(
    cid: str,
    kind: str,
    title: str,
    summary: str,
    message: str,
    table: Table,
    width: float = 360,
    height: float = 120,
) -> Chart:
    """The chart of an empty series: a framed message instead of an error."""
    canvas = Canvas(cid, kind, width, height)
    canvas.add(
        "rect",
        {
            "class": "hy-chart__frame",
            "x": 1,
            "y": 1,
            "width": width - 2,
            "height": height - 2,
            "fill": WHITE,
            "stroke": MUTED,
            "stroke-dasharray": "4 3",
        },
    )
    canvas.text(width / 2, height / 2 + 5, message, "hy-chart__nodata", anchor="middle")
    return Chart(canvas.render(title, summary), table, summary)


@dataclass(frozen=True, slots=True)
class LegendItem:
    """``swatch``: ``line`` (stroke, dash), ``marker`` (circle/square/triangle), ``band`` (fill)."""

    label: str
    swatch: str
    color: str
    fill: str = ""
    dash: str = ""
    shape: str = "circle"
    pattern: str = ""  # url(#…) drawn over the fill


def marker(canvas: Canvas, x: float, y: float, shape: str, color: str, cls: str) -> None:
    """A data point: circle, square or triangle (the shape tells series apart without colour)."""
    if shape == "square":
        canvas.add(
            "rect",
            {
                "class": cls,
                "x": x - 3.5,
                "y": y - 3.5,
                "width": 7,
                "height": 7,
                "fill": color,
                "stroke": WHITE,
                "stroke-width": 1,
            },
        )
    elif shape == "triangle":
        pts = f"{num(x)},{num(y - 5)} {num(x + 5)},{num(y + 4)} {num(x - 5)},{num(y + 4)}"
        canvas.add(
            "polygon", {"class": cls, "points": pts, "fill": color, "stroke": WHITE, "stroke-width": 1}
        )
    else:
        canvas.add(
            "circle",
            {"class": cls, "cx": x, "cy": y, "r": 3.5, "fill": color, "stroke": WHITE, "stroke-width": 1},
        )


def legend(canvas: Canvas, items: Sequence[LegendItem], left: float, top: float, right: float) -> float:
    """Lay the items out left to right, wrapping; returns the y below the legend."""
    x, y = left, top
    for item in items:
        width = 22 + text_width(item.label) + 14
        if x > left and x + width > right:
            x, y = left, y + 18
        cls = "hy-chart__legend"
        if item.swatch == "line":
            attrs: dict[str, str | float] = {
                "class": cls,
                "x1": x,
                "y1": y + 5,
                "x2": x + 18,
                "y2": y + 5,
                "stroke": item.color,
                "stroke-width": 2.5,
            }
            if item.dash:
                attrs["stroke-dasharray"] = item.dash
            canvas.add("line", attrs)
        elif item.swatch == "marker":
            marker(canvas, x + 9, y + 5, item.shape, item.color, cls)
        else:
            box: dict[str, str | float] = {"class": cls, "x": x, "y": y, "width": 18, "height": 10}
            canvas.add(
                "rect", {**box, "fill": item.fill or item.color, "stroke": item.color, "stroke-width": 1}
            )
            if item.pattern:
                canvas.add("rect", {**box, "fill": item.pattern, "stroke": item.color, "stroke-width": 1})
        canvas.text(x + 22, y + 10, item.label, "hy-chart__legend-text")
        x += width
    return y + 18 if items else top
