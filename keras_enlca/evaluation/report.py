"""The result of an evaluation: per-image and per-dataset PSNR/SSIM."""

import json
import math

from keras_enlca.utils.atomic import atomic_path


def _json_number(value):
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else ("-inf" if value < 0 else "nan")
    return value


def _clean(obj):
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return _json_number(obj)


def _fmt(value, digits):
    if value is None:
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return f"{value:.{digits}f}"


class EvaluationReport:
    """PSNR/SSIM of a model (and the bicubic baseline) on some datasets.

    Args:
        model_name: the evaluated model's name, for display.
        scale: upscaling factor.
        settings: how the numbers were made (chop, tile, self-ensemble,
            channel, shave...).
        datasets: list of dicts, one per dataset, with keys `name`,
            `lr_source` ("files" or "bicubic"), `num_images`, `psnr`,
            `ssim`, `bicubic_psnr`, `bicubic_ssim`, `seconds` and `images`
            (a list of dicts with `name`, `psnr`, `ssim`, `bicubic_psnr`,
            `bicubic_ssim`, `seconds`). Dataset values are means over its
            images, the way SR papers report them.

    Example:

    ```python
    report = evaluate(model, ["benchmark/Set5"], scale=4, chop=True)
    report["Set5"]["psnr"], report["Set5"]["bicubic_psnr"]
    print(report.format_table())
    report.save_json("set5_x4.json")
    ```
    """

    def __init__(self, model_name, scale, settings, datasets):
        self.model_name = model_name
        self.scale = scale
        self.settings = dict(settings)
        self.datasets = list(datasets)

    def __getitem__(self, name):
        for dataset in self.datasets:
            if dataset["name"] == name:
                return dataset
        raise KeyError(name)

    def __repr__(self):
        parts = ", ".join(
            f"{d['name']}: {_fmt(d['psnr'], 2)}/{_fmt(d['ssim'], 4)}"
            for d in self.datasets
        )
        return f"EvaluationReport({self.model_name} x{self.scale}; {parts})"

    def to_dict(self):
        """A JSON-ready dict (infinite PSNRs become the string "inf")."""
        return _clean(
            {
                "model": self.model_name,
                "scale": self.scale,
                "settings": self.settings,
                "datasets": self.datasets,
            }
        )

    def save_json(self, path):
        """Write `to_dict()` as JSON, atomically."""
        with atomic_path(path) as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(self.to_dict(), f, indent=2)
                f.write("\n")
        return path

    def format_table(self, per_image=False):
        """A plain-text table: one row per dataset (and per image if asked)."""
        has_baseline = any(d.get("bicubic_psnr") is not None for d in self.datasets)
        header = ["Dataset", "Images", "Scale"]
        if has_baseline:
            header.append("Bicubic PSNR / SSIM")
        header.append(f"{self.model_name} PSNR / SSIM")
        rows = []
        for dataset in self.datasets:
            name = dataset["name"] + (
                " (LR made)" if dataset.get("lr_source") == "bicubic" else ""
            )
            row = [name, str(dataset["num_images"]), f"x{self.scale}"]
            if has_baseline:
                row.append(
                    f"{_fmt(dataset.get('bicubic_psnr'), 2)} / "
                    f"{_fmt(dataset.get('bicubic_ssim'), 4)}"
                )
            row.append(f"{_fmt(dataset['psnr'], 2)} / {_fmt(dataset['ssim'], 4)}")
            rows.append(row)
            if per_image:
                for image in dataset["images"]:
                    row = ["  " + image["name"], "", ""]
                    if has_baseline:
                        row.append(
                            f"{_fmt(image.get('bicubic_psnr'), 2)} / "
                            f"{_fmt(image.get('bicubic_ssim'), 4)}"
                        )
                    row.append(f"{_fmt(image['psnr'], 2)} / {_fmt(image['ssim'], 4)}")
                    rows.append(row)
        widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
        lines = []
        for k, row in enumerate([header] + rows):
            cells = [
                row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i])
                for i in range(len(row))
            ]
            lines.append("  ".join(cells).rstrip())
            if k == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)
