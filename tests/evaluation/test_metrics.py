import math

import keras
import numpy as np
import pytest

from keras_enlca.errors import InputError
from keras_enlca.evaluation import PSNR
from keras_enlca.evaluation import SSIM
from keras_enlca.evaluation.metrics import gaussian_window
from keras_enlca.evaluation.metrics import psnr
from keras_enlca.evaluation.metrics import quantize
from keras_enlca.evaluation.metrics import rgb_to_y
from keras_enlca.evaluation.metrics import ssim


def direct_y(image):
    """Y = 16 + 65.481 R + 128.553 G + 24.966 B (R, G, B in [0, 1]), float64."""
    rgb = image.astype(np.float64) / 255.0
    return 16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]


def direct_ssim(a, b):
    """Wang's ssim_index with explicit 11x11 windows (no separable tricks)."""
    x = np.arange(11) - 5.0
    window = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * 1.5**2))
    window /= window.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for i in range(a.shape[0] - 10):
        for j in range(a.shape[1] - 10):
            pa, pb = a[i : i + 11, j : j + 11], b[i : i + 11, j : j + 11]
            mu_a, mu_b = (window * pa).sum(), (window * pb).sum()
            var_a = (window * pa * pa).sum() - mu_a**2
            var_b = (window * pb * pb).sum() - mu_b**2
            cov = (window * pa * pb).sum() - mu_a * mu_b
            values.append(
                ((2 * mu_a * mu_b + c1) * (2 * cov + c2))
                / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
            )
    return float(np.mean(values))


@pytest.fixture
def pair(rng):
    hr = rng.integers(0, 256, (24, 28, 3), dtype=np.uint8)
    noise = rng.integers(-12, 13, hr.shape)
    sr = np.clip(hr.astype(int) + noise, 0, 255).astype(np.uint8)
    return sr, hr


def test_y_channel_formula():
    image = np.array(
        [[[255, 0, 0], [0, 255, 0], [0, 0, 255], [0, 0, 0], [255, 255, 255]]], np.uint8
    )
    np.testing.assert_allclose(
        rgb_to_y(image)[0], [81.481, 144.553, 40.966, 16.0, 235.0], atol=2e-5
    )


def test_y_is_stored_in_single_precision_not_rounded(rng):
    image = rng.integers(0, 256, (9, 9, 3), dtype=np.uint8)
    y = rgb_to_y(image)
    np.testing.assert_allclose(y, direct_y(image), atol=3e-5)
    # MATLAB `single(rgb2ycbcr(im2double(x))) * 255`: float32 steps, no rounding.
    y32 = (direct_y(image) / 255.0).astype(np.float32) * np.float32(255)
    np.testing.assert_array_equal(y, y32.astype(np.float64))
    assert np.any(np.abs(y - np.round(y)) > 0.01)


def test_psnr_against_direct_computation(pair):
    sr, hr = pair
    for shave in (0, 2, 4):
        a, b = direct_y(hr), direct_y(sr)
        if shave:
            a, b = a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave]
        expected = 10 * math.log10(255**2 / np.mean((a - b) ** 2))
        assert psnr(sr, hr, shave=shave) == pytest.approx(expected, abs=1e-4)
    rgb = 10 * math.log10(255**2 / np.mean((sr.astype(float) - hr.astype(float)) ** 2))
    assert psnr(sr, hr, y_channel=False) == pytest.approx(rgb, abs=1e-12)


def test_identical_images_and_shave(pair):
    _, hr = pair
    assert psnr(hr, hr) == math.inf
    assert ssim(hr, hr) == pytest.approx(1.0, abs=1e-12)
    # Differences only within the shaved border do not count.
    sr = hr.copy()
    sr[:3] = 255 - sr[:3]
    sr[:, -3:] = 0
    assert psnr(sr, hr, shave=3) == math.inf
    assert psnr(sr, hr, shave=2) < 30
    assert ssim(sr, hr, shave=3) == pytest.approx(1.0, abs=1e-12)


def test_float_outputs_are_clamped_and_rounded_first(pair):
    _, hr = pair
    levels = hr.astype(np.float32) / 255.0
    assert psnr(levels + 0.49 / 255, hr) == math.inf
    assert psnr(levels + 0.51 / 255, hr, y_channel=False) == pytest.approx(
        10 * math.log10(255**2 / np.mean(np.where(hr < 255, 1.0, 0.0))), abs=1e-9
    )
    over = np.full(hr.shape, 1.7, np.float32)
    assert psnr(over, np.full(hr.shape, 255, np.uint8)) == math.inf
    np.testing.assert_array_equal(
        quantize(np.array([-0.2, 0.5 / 255, 1.5 / 255, 2.0])), [0, 1, 2, 255]
    )


def test_ssim_against_direct_window_computation(pair):
    sr, hr = pair
    expected = direct_ssim(direct_y(hr[2:-2, 2:-2]), direct_y(sr[2:-2, 2:-2]))
    assert ssim(sr, hr, shave=2) == pytest.approx(expected, abs=2e-6)
    per_channel = [
        direct_ssim(hr[..., c].astype(float), sr[..., c].astype(float))
        for c in range(3)
    ]
    assert ssim(sr, hr, y_channel=False) == pytest.approx(
        np.mean(per_channel), abs=1e-10
    )
    assert 0.0 < ssim(sr, hr) < 1.0


def test_gaussian_window_is_matlab_fspecial():
    g = gaussian_window()
    window = np.outer(g, g)
    x = np.arange(11) - 5.0
    expected = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / 4.5)
    np.testing.assert_allclose(window, expected / expected.sum(), atol=1e-15)
    assert window.sum() == pytest.approx(1.0)


def test_grayscale_images(pair):
    sr, hr = pair
    gray = psnr(sr[..., 0], hr[..., 0])
    direct = 10 * math.log10(
        255**2 / np.mean((sr[..., 0].astype(float) - hr[..., 0]) ** 2)
    )
    assert gray == pytest.approx(direct, abs=1e-12)


def test_errors(pair):
    sr, hr = pair
    with pytest.raises(InputError, match="differ in shape"):
        psnr(sr[:-1], hr)
    with pytest.raises(InputError, match="at least 11x11"):
        ssim(sr[:14], hr[:14], shave=2)
    with pytest.raises(InputError, match="too small to shave"):
        psnr(sr[:4], hr[:4], shave=2)
    with pytest.raises(InputError, match="dtype"):
        psnr(sr.astype(np.int32), hr)


def test_keras_metrics_match_numpy(rng):
    hr = rng.random((3, 26, 30, 3)).astype(np.float32)
    sr = np.clip(hr + rng.normal(0, 0.05, hr.shape), -0.1, 1.1).astype(np.float32)
    sr[2] = hr[2]  # identical: capped, not inf
    expected_psnr = [psnr(sr[i], hr[i], shave=2) for i in range(2)]
    expected_ssim = [ssim(sr[i], hr[i], shave=2) for i in range(3)]
    metric = PSNR(shave=2)
    metric.update_state(hr[:2], sr[:2])
    assert float(metric.result()) == pytest.approx(np.mean(expected_psnr), abs=1e-3)
    metric.update_state(hr[2:], sr[2:])
    assert float(metric.result()) == pytest.approx(
        (sum(expected_psnr) + 10 * math.log10(255**2 / 1e-10)) / 3, abs=1e-3
    )
    metric.reset_state()
    metric.update_state(hr[:2], sr[:2], sample_weight=np.array([1.0, 0.0]))
    assert float(metric.result()) == pytest.approx(expected_psnr[0], abs=1e-3)
    s = SSIM(shave=2)
    s.update_state(hr, sr)
    assert float(s.result()) == pytest.approx(np.mean(expected_ssim), abs=2e-5)
    rgb = SSIM(y_channel=False, shave=2)
    rgb.update_state(hr[:1], sr[:1])
    assert float(rgb.result()) == pytest.approx(
        ssim(sr[0], hr[0], shave=2, y_channel=False), abs=2e-5
    )


def test_keras_metrics_config_and_compile(rng):
    metric = PSNR(shave=4, y_channel=False, quantize=False, name="rgb_psnr")
    clone = PSNR.from_config(metric.get_config())
    assert (clone.shave, clone.y_channel, clone.quantize, clone.name) == (
        4,
        False,
        False,
        "rgb_psnr",
    )
    assert (
        keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(SSIM(shave=1))
        ).shave
        == 1
    )
    x = rng.random((4, 16, 16, 3)).astype(np.float32)
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Identity()(inputs))
    model.compile(loss="mae", metrics=[PSNR(shave=1), SSIM(shave=1)])
    noisy = np.clip(x + 0.02, 0, 1)
    logs = model.evaluate(noisy, x, batch_size=2, verbose=0, return_dict=True)
    assert logs["psnr"] == pytest.approx(
        np.mean([psnr(noisy[i], x[i], shave=1) for i in range(4)]), abs=1e-3
    )
    assert logs["ssim"] == pytest.approx(
        np.mean([ssim(noisy[i], x[i], shave=1) for i in range(4)]), abs=1e-4
    )
