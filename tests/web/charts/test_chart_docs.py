"""docs/charts.md is executed: its Python example runs, and every class name the charts use
is documented."""

from __future__ import annotations

import re
from pathlib import Path

from tests.web.charts.test_chart_contrast import every_chart

DOC = Path(__file__).resolve().parents[3] / "docs" / "charts.md"


def test_the_python_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text("utf-8"), re.S)
    example = next(block for block in blocks if "assert" in block)
    exec(compile(example, str(DOC), "exec"), {})  # its own asserts check the output


def test_every_class_name_is_documented() -> None:
    documented = set(re.findall(r"`(hy-chart[a-z0-9_-]*)`", DOC.read_text("utf-8")))
    used = {"hy-chart__nodata"}
    for lang in ("fr", "en", "ar"):
        for chart in every_chart(lang):
            used |= {name for value in re.findall(r'class="([^"]+)"', chart.svg) for name in value.split()}
    assert used <= documented, sorted(used - documented)
    assert not {name for name in documented - used if name != "hy-chart__nodata"}, "documented but unused"
