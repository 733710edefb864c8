"""The authors' A2N x3 weights through int8 and int16x8 (skipped without them).

The weights live outside the repository (`../shared/reference/weights`,
never copied in: see the README there); PyTorch reads them.
"""

import os

import pytest

from keras_enlca.data import sample_images_dir
from keras_enlca.export import export_model
from keras_enlca.inference import read_artifact_metadata

WEIGHTS = os.path.join(
    os.path.dirname(__file__),
    "..",
    "..",
    "..",
    "shared",
    "reference",
    "weights",
    "aan_x3.pt",
)
# int8: the goal, 0.10 dB. With the residual stream and the head
# convolution float (the default since stop 17) it measured 0.088 dB on the
# bundled photos with 32 crops (0.131 dB before; 0.081 with another seed).
# int16x8 goes through TFLite's one-step 16x8 quantiser (no MSE ranges) and
# measured 0.157 dB. int8-full (every op integer, uint8 pixel I/O): the
# issue's goal, 0.15 dB; measured 0.134 dB with 32 crops (0.245 before its
# x3 skip became transposed convolutions and its biases were corrected).
BUDGET = {"int8": 0.10, "int16x8": 0.2, "int8-full": 0.15}
CALIBRATION = {"num_calibration_crops": 12, "calibration_crop_size": [32, 48]}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.isfile(WEIGHTS), reason="no shared A2N x3 weights"),
]


@pytest.fixture(scope="module")
def a2n_x3(tmp_path_factory):
    pytest.importorskip("torch")
    from keras_enlca.convert import convert_checkpoint

    path = tmp_path_factory.mktemp("a2n") / "a2n_x3.keras"
    convert_checkpoint(WEIGHTS, arch="a2n", scale=3, output=str(path))
    return str(path)


@pytest.mark.parametrize("quantize", ["int8", "int16x8", "int8-full"])
def test_real_a2n_x3_integer_export_within_budget(a2n_x3, tmp_path, quantize):
    out = tmp_path / f"a2n_x3_{quantize}.tflite"
    # The default float layers (the measured fallback is tested on small
    # models in test_float_fallback.py: on this network it takes minutes).
    metadata = export_model(
        a2n_x3, out, quantize=quantize, verify=sample_images_dir(), **CALIBRATION
    )
    result = metadata["verification"]
    assert result["images"] == 5
    assert result["psnr_y_drop"] <= BUDGET[quantize], result["psnr_y_drop"]
    assert result["psnr_y_keras_vs_hr"] > result["psnr_y_bicubic_vs_hr"] + 2.0
    stored = read_artifact_metadata(out)
    # Every pixel-attention gate has its logit range clamped (att1: +-17,845).
    clamped = {row["tensor"].split("/")[1] for row in stored["clamped_ranges"]}
    assert "att1_1" in clamped and len(clamped) >= 10
    if quantize == "int8-full":
        assert stored["recipe"]["float_ops"] == []
        assert any("skip_add" in name for name in stored["pinned_ranges"])
    if quantize == "int8":
        assert set(stored["float_layers"]) == set(stored["float_layer_reasons"])
        assert {"input_scaling", "conv_first", "skip_upsample"} <= set(
            stored["float_layers"]
        )
        assert stored["float_residual_adds"] == [f"aab_{i}" for i in range(16)] + [
            "trunk_skip"
        ]
        assert stored["range_method"] == "mse"
        narrowed = stored["narrowed_ranges"]
        assert 0 < narrowed["narrowed"] < narrowed["tensors"]
