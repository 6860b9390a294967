"""Helpers of the chart tests: parse the SVG, check its accessibility, measure contrast."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from hygie.web.charts import Chart

SVG = "{http://www.w3.org/2000/svg}"


def parse(chart: Chart) -> ET.Element:
    """The chart's SVG parsed (proves it is well-formed), after the accessibility checks."""
    root = ET.fromstring(chart.svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("direction") == "ltr"
    assert re.fullmatch(r"0 0 \d+(\.\d)? \d+(\.\d)?", root.get("viewBox") or "")
    labelled = (root.get("aria-labelledby") or "").split()
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and desc is not None
    assert labelled == [title.get("id"), desc.get("id")]
    assert (title.text or "").strip() and (desc.text or "").strip()
    assert desc.text == chart.summary
    for element in root.iter():
        assert "style" not in element.attrib, element.tag  # CSP: no inline style
        assert not any(name.startswith("on") for name in element.attrib), element.attrib
        assert element.tag not in (f"{SVG}script", f"{SVG}foreignObject", f"{SVG}style")
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids))
    return root


def by_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def texts(root: ET.Element) -> list[str]:
    return [e.text or "" for e in root.iter(f"{SVG}text")]


def path_moves(d: str) -> int:
    """Number of subpaths (M commands) of a path's data."""
    return d.count("M")


def path_points(d: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"(-?[\d.]+),(-?[\d.]+)", d)]


def luminance(color: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    """WCAG 2.x contrast ratio of two #rrggbb colours."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def rect_y_range(rect: ET.Element) -> tuple[float, float]:
    y, h = float(rect.get("y") or 0), float(rect.get("height") or 0)
    return y, y + h
