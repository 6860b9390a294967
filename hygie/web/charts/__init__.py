"""Server-side SVG charts for the patient portal and the clinician workspace (docs/charts.md).

Each function returns a :class:`Chart`: accessible SVG markup (every text escaped, no script, no
inline style), the same data as a :class:`Table` and a plain-language summary, in French, English
or Arabic. Pure functions: no I/O, no third-party dependency.
"""

from hygie.web.charts.agp import agp_chart
from hygie.web.charts.news2 import News2Point, news2_chart
from hygie.web.charts.series import time_series
from hygie.web.charts.series_text import Bucket, Grain, Point
from hygie.web.charts.sources import cgm_agp, cgm_percent, news2_point, samples_buckets, samples_points
from hygie.web.charts.sparkline import sparkline
from hygie.web.charts.svg import Chart, Table
from hygie.web.charts.tir import tir_chart

__all__ = [
    "Bucket",
    "Chart",
    "Grain",
    "News2Point",
    "Point",
    "Table",
    "agp_chart",
    "cgm_agp",
    "cgm_percent",
    "news2_chart",
    "news2_point",
    "samples_buckets",
    "samples_points",
    "sparkline",
    "time_series",
    "tir_chart",
]
