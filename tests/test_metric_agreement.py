"""One Y-PSNR: the model's `val_psnr`, the Keras `PSNR` metric and `enlca score`.

All three quantise with `to_uint8`'s rule (clamp, x255, round half away
from zero, in float32 for float32 images), take MATLAB's luminance, shave
`scale` pixels and average per-image PSNRs; they must agree on the same
images, including pixels exactly half-way between two 8-bit levels.
"""

import json

import numpy as np
from click.testing import CliRunner

from keras_enlca.cli.main import cli
from keras_enlca.data.io import write_image
from keras_enlca.evaluation import PSNR
from keras_enlca.evaluation import psnr
from keras_enlca.models import EDSR
from keras_enlca.models import y_channel_psnr
from keras_enlca.utils.image_conventions import to_uint8


def photos(count, size, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    images = []
    for _ in range(count):
        fx, fy = rng.uniform(0.05, 0.3, 2)
        base = 0.5 + 0.35 * np.sin(fx * xx + fy * yy)[..., None] * rng.uniform(
            0.5, 1, 3
        )
        images.append(base + rng.normal(0, 0.02, base.shape))
    return to_uint8(np.clip(np.stack(images), 0, 1)).astype("float32") / 255.0


def enlca_score(tmp_path, sr, hr, scale):
    for folder, images, suffix in (("sr", sr, f"_x{scale}_SR"), ("hr", hr, "")):
        (tmp_path / folder).mkdir()
        for i, image in enumerate(images):
            write_image(str(tmp_path / folder / f"im{i}{suffix}.png"), image)
    out = tmp_path / "scores.json"
    result = CliRunner().invoke(
        cli,
        [
            "score",
            str(tmp_path / "sr"),
            str(tmp_path / "hr"),
            "--scale",
            str(scale),
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())["datasets"][0]


def keras_metric(hr, sr, shave):
    metric = PSNR(shave=shave)
    metric.update_state(hr, sr)
    return float(metric.result())


def test_val_psnr_keras_metric_and_score_agree(tmp_path):
    scale = 2
    hr = photos(3, 32, seed=0)
    lr = hr.reshape(3, 16, 2, 16, 2, 3).mean(axis=(2, 4))
    model = EDSR(scale=scale, num_blocks=1, filters=8)
    model.compile(optimizer="adam")
    sr = model.predict(lr, verbose=0)
    val_psnr = model.evaluate(lr, hr, batch_size=3, verbose=0, return_dict=True)["psnr"]
    scored = enlca_score(tmp_path, sr, hr, scale)
    assert 5.0 < val_psnr < 60.0
    np.testing.assert_allclose(keras_metric(hr, sr, scale), val_psnr, atol=1e-3)
    np.testing.assert_allclose(scored["psnr"], val_psnr, atol=1e-3)


def test_half_way_pixels_round_the_same_everywhere(tmp_path):
    hr = photos(2, 24, seed=1)
    levels = np.random.default_rng(2).integers(0, 255, hr.shape)
    ties = ((levels + 0.5) / 255).astype("float32")  # x * 255 == k + 0.5 in float32
    assert np.all(ties * np.float32(255) % 1 == 0.5)
    np.testing.assert_array_equal(to_uint8(ties), levels + 1)  # half away from zero

    # Half to even (`ops.round`, the former val_psnr) is 0.01-0.03 dB off here.
    per_image = y_channel_psnr(hr, ties, 2).numpy()
    numpy_values = [psnr(t, h, shave=2) for t, h in zip(ties, hr, strict=True)]
    np.testing.assert_allclose(per_image, numpy_values, atol=1e-4)
    np.testing.assert_allclose(
        keras_metric(hr, ties, 2), np.mean(numpy_values), atol=1e-4
    )
    np.testing.assert_allclose(
        enlca_score(tmp_path, ties, hr, 2)["psnr"], np.mean(numpy_values), atol=1e-4
    )
