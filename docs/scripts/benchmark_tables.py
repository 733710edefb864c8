"""Markdown tables from the published benchmark figures.

`benchmarks/published/<name>.json` holds one table of figures that a
`benchmarks/*.py` script measured: `{"script": ..., "columns": [...],
"rows": [[...], ...]}`. The benchmarks page shows each where it says
`<!-- benchmark: <name> -->`.
"""

import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PUBLISHED = os.path.join(ROOT, "benchmarks", "published")


def load(name):
    path = os.path.join(PUBLISHED, f"{name}.json")
    if not os.path.exists(path):
        raise KeyError(f"no benchmark table {name!r}: {path} does not exist")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _cell(value):
    if value is None:
        return "–"
    return str(value).replace("|", "\\|")


def table(name):
    """The Markdown table of `benchmarks/published/<name>.json`."""
    figures = load(name)
    columns = figures["columns"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in figures["rows"]:
        if len(row) != len(columns):
            raise ValueError(
                f"{name}.json: row {row} does not have {len(columns)} cells"
            )
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    source = f"`{figures['script']}`"
    return (
        "\n".join(lines)
        + f"\n\n<small>Source: {source}, {figures['measured']}.</small>\n"
    )
