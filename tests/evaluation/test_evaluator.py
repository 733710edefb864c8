import json
import math
import os

import keras
import numpy as np
import pytest

from keras_enlca.data.bicubic import bicubic_upscale
from keras_enlca.data.datasets import SRDataset
from keras_enlca.data.io import read_image
from keras_enlca.data.io import write_image
from keras_enlca.errors import InputError
from keras_enlca.evaluation import evaluate
from keras_enlca.evaluation import psnr
from keras_enlca.evaluation import quantize
from keras_enlca.evaluation import self_ensemble
from keras_enlca.evaluation import ssim
from keras_enlca.evaluation.evaluator import chop_variant_for
from keras_enlca.layers import PixelShuffle


class Nearest:
    """A perfect 'model' for HR images that are nearest upscales of their LR."""

    def __init__(self, scale=2):
        self.scale = scale
        self.name = "nearest"

    def __call__(self, x):
        return np.repeat(np.repeat(x, self.scale, 1), self.scale, 2)


class A2NLike(Nearest):
    pass


def conv_model(scale=2):
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(3 * scale * scale, 3, padding="same")(x)
    model = keras.Model(inputs, PixelShuffle(scale)(x), name="tiny")
    model.scale = scale
    return model


@pytest.fixture
def benchmark(tmp_path, rng):
    """Set5-like folder: LR random, HR = nearest upscale of LR (x2)."""
    folder = tmp_path / "Set5"
    for name, (h, w) in (("baby", (40, 44)), ("bird", (36, 30))):
        lr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        hr = np.repeat(np.repeat(lr, 2, 0), 2, 1)
        write_image(folder / "HR" / f"{name}.png", hr)
        write_image(folder / "LR_bicubic" / "X2" / f"{name}x2.png", lr)
    return folder


def test_perfect_model_and_bicubic_baseline(benchmark):
    report = evaluate(Nearest(), str(benchmark))
    result = report["Set5"]
    assert result["num_images"] == 2 and result["lr_source"] == "files"
    assert result["psnr"] == math.inf and result["ssim"] == pytest.approx(1.0)
    dataset = SRDataset.from_benchmark(benchmark, 2)
    expected = []
    for image, (name, lr, hr) in zip(result["images"], dataset, strict=True):
        assert image["name"] == name
        bicubic = bicubic_upscale(lr, 2)
        assert image["bicubic_psnr"] == pytest.approx(
            psnr(bicubic, hr, shave=2), abs=1e-12
        )
        assert image["bicubic_ssim"] == pytest.approx(
            ssim(bicubic, hr, shave=2), abs=1e-12
        )
        expected.append(image["bicubic_psnr"])
    assert result["bicubic_psnr"] == pytest.approx(np.mean(expected))
    assert 5 < result["bicubic_psnr"] < 30
    assert report.settings == {
        "chop": None,
        "tile": None,
        "overlap": None,
        "self_ensemble": False,
        "channel": "y",
        "shave": 2,
    }


def test_keras_model_numbers_with_test_time_options(benchmark):
    model = conv_model()
    dataset = SRDataset.from_benchmark(benchmark, 2)
    direct = []
    for _, lr, hr in dataset:
        sr = quantize(model(lr[None].astype(np.float32) / 255.0).numpy()[0])
        direct.append((psnr(sr, hr, shave=2), ssim(sr, hr, shave=2)))
    plain = evaluate(model, dataset)["Set5"]
    # A convolutional model with a small receptive field: chop (shave 10)
    # and tiling (overlap 8: 2 pixels of context) reproduce the whole-image output.
    chopped = evaluate(model, dataset, chop=True)["Set5"]
    tiled = evaluate(model, dataset, tile=20, overlap=8)["Set5"]
    for result in (plain, chopped, tiled):
        for image, (p, s) in zip(result["images"], direct, strict=True):
            assert image["psnr"] == pytest.approx(p, abs=1e-6)
            assert image["ssim"] == pytest.approx(s, abs=1e-7)
        assert result["psnr"] == pytest.approx(
            np.mean([p for p, _ in direct]), abs=1e-6
        )
    ensembled = evaluate(model, dataset, self_ensemble=True, bicubic_baseline=False)[
        "Set5"
    ]
    _, lr, hr = dataset[0]
    fn = lambda x: model(x).numpy()  # noqa: E731
    sr = quantize(self_ensemble(fn, lr[None].astype(np.float32) / 255.0)[0])
    assert ensembled["images"][0]["psnr"] == pytest.approx(
        psnr(sr, hr, shave=2), abs=1e-6
    )
    assert ensembled["bicubic_psnr"] is None


def test_rgb_metrics_and_custom_shave(benchmark):
    model = conv_model()
    result = evaluate(model, str(benchmark), y_channel=False, shave=5)["Set5"]
    _, lr, hr = SRDataset.from_benchmark(benchmark, 2)[0]
    sr = quantize(model(lr[None].astype(np.float32) / 255.0).numpy()[0])
    assert result["images"][0]["psnr"] == pytest.approx(
        psnr(sr, hr, 5, y_channel=False), abs=1e-6
    )


def test_save_images_json_and_table(benchmark, tmp_path):
    progress = []
    report = evaluate(
        Nearest(),
        [str(benchmark)],
        save_images=tmp_path / "out",
        progress=lambda *args: progress.append(args),
    )
    assert progress == [(1, 2, "Set5", "baby"), (2, 2, "Set5", "bird")]
    saved = read_image(tmp_path / "out" / "Set5" / "baby_x2_SR.png")
    np.testing.assert_array_equal(saved, read_image(benchmark / "HR" / "baby.png"))
    report.save_json(tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["model"] == "nearest" and data["scale"] == 2
    assert data["datasets"][0]["psnr"] == "inf"
    assert data["datasets"][0]["images"][1]["name"] == "bird"
    table = report.format_table(per_image=True)
    assert "Set5" in table and "baby" in table and "inf / 1.0000" in table
    assert "Bicubic PSNR / SSIM" in table.splitlines()[0]


def test_chop_variant_follows_the_network():
    from keras_enlca.models import from_preset

    assert chop_variant_for(Nearest()) == "enlca"
    # From the registry of families, not from class names.
    assert chop_variant_for(A2NLike()) == "enlca"
    a2n = from_preset("a2n_small_x2", num_blocks=1, filters=8, upsample_filters=8)
    assert chop_variant_for(a2n) == "a2n"
    runner = Nearest()
    runner.model = a2n
    assert chop_variant_for(runner) == "a2n"
    runner = Nearest()
    runner.metadata = {"network": "A2N", "format": "tflite"}
    assert chop_variant_for(runner) == "a2n"


def test_errors(benchmark):
    with pytest.raises(InputError, match="x2 but scale 3"):
        evaluate(Nearest(), str(benchmark), scale=3)
    with pytest.raises(InputError, match="either chop or tile"):
        evaluate(Nearest(), str(benchmark), chop=True, tile=32)
    with pytest.raises(InputError, match="does not match the HR"):
        evaluate(lambda x: np.zeros((1, 8, 8, 3), np.float32), str(benchmark), scale=2)
    with pytest.raises(InputError, match="no `scale`"):
        evaluate(lambda x: x, str(benchmark))
    with pytest.raises(InputError, match="not found"):
        evaluate(Nearest(), os.path.join(str(benchmark), "missing"))


def test_predict_fn_runs_keras_models_through_the_inference_forward_pass(rng):
    from keras_enlca.evaluation import predict_fn
    from keras_enlca.inference import keras_forward

    model = conv_model()
    x = rng.random((1, 9, 11, 3)).astype(np.float32)
    out = predict_fn(model)(x)
    # Not clipped (evaluate clips and rounds after chop, tiling, ensemble).
    np.testing.assert_array_equal(out, keras_forward(model)(x))
    np.testing.assert_allclose(out, model(x, training=False), atol=1e-6)
    assert out.shape == (1, 18, 22, 3) and out.dtype == np.float32
    runner = Nearest()
    np.testing.assert_array_equal(predict_fn(runner)(x), runner(x))
    with pytest.raises(InputError, match="not a Keras model or a callable"):
        predict_fn("model.keras")
