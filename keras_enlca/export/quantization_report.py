"""`--report`: the per-layer quantisation table as CSV or JSON."""

import csv
import io
import json
import math
import os

from keras_enlca.errors import InputError
from keras_enlca.utils.atomic import atomic_path

REPORT_COLUMNS = (
    "layer",
    "ops",
    "calibrated_min",
    "calibrated_max",
    "drop_if_float",
    "gain",
    "kept_float",
    "reason",
)


def finite_json(value):
    """`value` with every non-finite float (a failed measurement) as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(item) for item in value]
    return value


def report_rows(info):
    """The table rows of `convert_to_tflite`'s `info` (see `REPORT_COLUMNS`)."""
    rows = []
    for row in finite_json((info.get("fallback") or {}).get("table", [])):
        low, high = row.get("calibrated_range") or (None, None)
        rows.append(
            {
                "layer": row["layer"],
                "ops": row["ops"],
                "calibrated_min": low,
                "calibrated_max": high,
                "drop_if_float": row.get("drop_if_float"),
                "gain": row.get("gain"),
                "kept_float": row["kept_float"],
                "reason": row["reason"],
            }
        )
    return rows


def check_report_path(path):
    """A one-line error unless `path` ends with `.csv` or `.json`."""
    if os.path.splitext(os.fspath(path))[1].lower() not in (".csv", ".json"):
        raise InputError(f"--report {path}: must end with .csv or .json.")


def write_quantization_report(path, info):
    """Writes the per-layer table to `path` (`.csv` or `.json`), atomically.

    The JSON form also holds the fallback's summary (`integer_drop`,
    `drop`, `max_drop`, `steps`) and the clamped sigmoid ranges.
    """
    path = os.fspath(path)
    check_report_path(path)
    rows = report_rows(info)
    if path.lower().endswith(".csv"):
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, REPORT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        text = buffer.getvalue()
    else:
        fallback = {
            k: v for k, v in (info.get("fallback") or {}).items() if k != "table"
        }
        text = (
            json.dumps(
                finite_json(
                    {
                        "layers": rows,
                        "fallback": fallback,
                        "clamped_ranges": info.get("clamped_ranges", []),
                    }
                ),
                indent=2,
            )
            + "\n"
        )
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
