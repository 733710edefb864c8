import json

import numpy as np
import pytest

from keras_enlca.data import read_image
from keras_enlca.data import sample_image_paths
from keras_enlca.evaluation.metrics import psnr
from keras_enlca.export import export_model
from keras_enlca.export.activation_ranges import SHRINK_FRACTIONS
from keras_enlca.export.activation_ranges import best_fraction
from keras_enlca.export.activation_ranges import quantization_mse
from keras_enlca.inference import LiteRTRunner
from tests.export.quantization_models import spiky_activation_upscaler


def test_quantization_mse_matches_a_hand_computed_grid():
    # Range [0, 2.55]: step 0.01, zero point 0; 0.004 -> 0, 0.016 -> 0.02,
    # 3.0 -> clipped to 2.55.
    values = np.array([0.004, 0.016, 3.0])
    expected = np.mean([0.004**2, 0.004**2, 0.45**2])
    assert quantization_mse(values, 0.0, 2.55) == pytest.approx(expected, rel=1e-9)
    # A range that does not contain 0 is extended to it (as TFLite does).
    assert quantization_mse(values, 1.0, 2.55) == pytest.approx(expected, rel=1e-9)


def test_heavy_tails_shrink_the_range_and_uniform_values_keep_it():
    rng = np.random.default_rng(0)
    # Student's t (3 degrees of freedom): min..max about -75..50, nearly all
    # values within +-5, like the activations of a converged network.
    heavy = rng.standard_t(3, 100_000)
    low, high = heavy.min(), heavy.max()
    fraction = best_fraction(heavy, low, high)
    assert fraction <= 0.9
    shrunk = quantization_mse(heavy, low * fraction, high * fraction)
    assert shrunk < 0.85 * quantization_mse(heavy, low, high)
    # And the choice is the grid's best: no other fraction does better.
    assert all(
        quantization_mse(heavy, low * f, high * f) >= shrunk for f in SHRINK_FRACTIONS
    )
    uniform = rng.uniform(-1.0, 1.0, 100_000)
    assert best_fraction(uniform, -1.0, 1.0) == 1.0
    assert min(SHRINK_FRACTIONS) > 0 and max(SHRINK_FRACTIONS) < 1


def _psnr_against_float(model, path, images):
    runner = LiteRTRunner(path)
    values = []
    for image in images:
        x = image[None].astype("float32") / 255.0
        reference = np.clip(np.asarray(model(x)), 0.0, 1.0)
        values.append(psnr(runner(x)[0], reference[0], shave=2))
    return float(np.mean(values))


@pytest.mark.slow
def test_int8_export_records_its_ranges_and_mse_is_no_worse(tmp_path):
    # The toy's spike tensor (`relu(x - 0.98)` before the gain) holds values
    # up to 0.02 where the calibration recorded a range of [0, 20] (the fused
    # op's): the MSE choice shrinks it to the grid's floor. Spikes at 1.3 %
    # of the values are far too many to clip, so those ranges stay.
    model = spiky_activation_upscaler()
    images = [read_image(p)[:96, :96] for p in sample_image_paths()[:3]]
    results = {}
    for method in ("minmax", "mse"):
        out = tmp_path / f"{method}.tflite"
        metadata = export_model(
            model,
            out,
            quantize="int8",
            range_method=method,
            float_image_layers=False,  # the toy is 3 channels end to end
            num_calibration_crops=8,
            calibration_crop_size=[48, 64],
        )
        with open(str(out) + ".json") as f:
            stored = json.load(f)
        assert stored["range_method"] == method
        assert stored["recipe"]["name"] == "int8"
        assert stored["recipe"]["ranges"] == method
        assert stored["recipe"]["float_ops"] == ["SOFTMAX", "BATCH_MATMUL"]
        results[method] = (_psnr_against_float(model, out, images), metadata)
    narrowed = results["mse"][1]["narrowed_ranges"]
    assert narrowed["tensors"] >= 6
    assert 1 <= narrowed["narrowed"] < narrowed["tensors"]
    assert narrowed["median_fraction"] == min(SHRINK_FRACTIONS)
    assert "narrowed_ranges" not in results["minmax"][1]
    # min..max spends the 256 levels on [0, 21]: a step of 0.08 on [0, 1].
    assert 35.0 < results["minmax"][0] < 45.0
    assert results["mse"][0] >= results["minmax"][0] - 0.05
