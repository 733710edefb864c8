import csv
import json

import pytest

from keras_enlca.export import export_model
from keras_enlca.export import tflite_operators
from tests.export.quantization_models import HUGE
from tests.export.quantization_models import upscaler

# The toys' int8 bilinear upsampler alone costs ~0.27 dB (its 8-bit output
# grid, then the output's own rounding): a budget above that, well below the
# ~21 dB that the spike costs.
BUDGET = 0.5
CALIBRATION = {"num_calibration_crops": 4, "calibration_crop_size": [24, 32]}


def _int8_convs(path):
    with open(path, "rb") as f:
        ops = tflite_operators(f.read())
    return [op for op in ops if op["op"] == "CONV_2D" and "INT8" in op["outputs"]]


@pytest.mark.slow
def test_fallback_keeps_the_huge_range_layer_float_to_reach_the_budget(tmp_path):
    out = tmp_path / "hard.tflite"
    report = tmp_path / "layers.csv"
    metadata = export_model(
        upscaler(HUGE),
        out,
        quantize="int8",
        max_drop=BUDGET,
        report=report,
        **CALIBRATION,
    )
    fallback = metadata["fallback"]
    assert (
        fallback["integer_drop"] > 5.0
    )  # one 8-bit scale for [0, 1e4] loses the image
    assert metadata["float_layers"] == ["spiky"]
    assert fallback["reached"] and fallback["drop"] <= BUDGET
    assert "sensitivity" in metadata["float_layer_reasons"]["spiky"]
    assert _int8_convs(out) == []  # both convolutions of the block are float
    with open(report) as f:
        rows = {row["layer"]: row for row in csv.DictReader(f)}
    assert set(rows) == {"spiky", "upsample"}
    assert (
        rows["spiky"]["kept_float"] == "True"
        and rows["upsample"]["kept_float"] == "False"
    )
    assert float(rows["spiky"]["calibrated_max"]) >= HUGE * 0.99
    assert float(rows["spiky"]["gain"]) > 5.0
    with open(str(out) + ".json") as f:
        assert json.load(f)["float_layers"] == ["spiky"]


@pytest.mark.slow
def test_fallback_keeps_an_easy_model_all_integer(tmp_path):
    out = tmp_path / "easy.tflite"
    metadata = export_model(
        upscaler(0.0), out, quantize="int8", max_drop=BUDGET, **CALIBRATION
    )
    assert metadata["float_layers"] == []
    assert metadata["fallback"]["integer_drop"] <= BUDGET
    assert metadata["fallback"]["steps"] == []
    assert len(_int8_convs(out)) == 2
