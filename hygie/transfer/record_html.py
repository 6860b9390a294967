"""``summary/summary.html``: the summary outline as one self-contained, accessible HTML page.

Every text goes through :func:`html.escape` (a name such as ``<script>`` stays text); the page
has a ``lang`` attribute, one ``h1`` and an ``h2`` per section, tables with a caption-like
heading and ``th scope="col"`` headers, inline CSS only: no script, no external resource, so it
opens offline in any browser. Listed documents link to their file (``../documents/…``).
Built with the standard library: no template engine needed.
"""

from __future__ import annotations

import re
from html import escape

from hygie.transfer.record_summary import Section, Summary

STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a;line-height:1.5}"
    "h1{font-size:1.6rem;border-bottom:2px solid #2b6cb0;padding-bottom:.3rem}"
    "h2{font-size:1.2rem;margin-top:2rem;color:#2b6cb0}"
    "table{border-collapse:collapse;width:100%;margin:.5rem 0}"
    "th,td{border:1px solid #cbd5e0;padding:.3rem .5rem;text-align:left;vertical-align:top}"
    "th{background:#edf2f7}"
    "@media print{body{margin:0}h2{break-after:avoid}}"
)


def render_html(summary: Summary) -> bytes:
    """The page, UTF-8 encoded."""
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{escape(summary.lang)}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(summary.title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{escape(summary.title)}</h1>",
        *(f"<p>{escape(p)}</p>" for p in summary.intro),
    ]
    for index, section in enumerate(summary.sections, start=1):
        parts.extend(_section(section, f"s{index}"))
    parts.extend(["</main>", "</body>", "</html>", ""])
    return "\n".join(parts).encode("utf-8")


_DOCUMENT = re.compile(r"documents/[A-Za-z0-9._-]+")


def _cell(text: str) -> str:
    """A cell's text, escaped; a file of ``documents/`` (safe names only) links to it, relative to
    ``summary/`` once the ZIP is unpacked."""
    if _DOCUMENT.fullmatch(text):
        return f'<a href="../{escape(text)}">{escape(text)}</a>'
    return escape(text)


def _section(section: Section, anchor: str) -> list[str]:
    out = [f'<section aria-labelledby="{anchor}">', f'<h2 id="{anchor}">{escape(section.heading)}</h2>']
    out.extend(f"<p>{escape(note)}</p>" for note in section.notes)
    if section.rows:
        out.append(f'<table aria-labelledby="{anchor}">')
        if any(section.headers):
            cells = "".join(f'<th scope="col">{escape(h)}</th>' for h in section.headers)
            out.append(f"<thead><tr>{cells}</tr></thead>")
        out.append("<tbody>")
        for row in section.rows:
            if not any(section.headers) and len(row) == 2:  # a key / value table (identity)
                out.append(f'<tr><th scope="row">{escape(row[0])}</th><td>{escape(row[1])}</td></tr>')
            else:
                out.append("<tr>" + "".join(f"<td>{_cell(cell)}</td>" for cell in row) + "</tr>")
        out.append("</tbody>")
        out.append("</table>")
    elif section.empty:
        out.append(f"<p>{escape(section.empty)}</p>")
    out.append("</section>")
    return out
