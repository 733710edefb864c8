import math

import numpy as np
import pytest

from keras_enlca.data.bicubic import bicubic_downscale
from keras_enlca.data.bicubic import bicubic_upscale
from keras_enlca.data.bicubic import cubic
from keras_enlca.data.bicubic import imresize
from keras_enlca.data.bicubic import modcrop
from keras_enlca.data.bicubic import resize_weights
from keras_enlca.errors import InputError


def matlab_imresize_loops(image, scale, border="symmetric"):
    """A literal, loop-based transcription of MATLAB's imresize (bicubic, uint8).

    `contributions()` with 1-based indices, `aux` mirroring, the `kill` of
    all-zero columns, height first, and `uint8()` rounding after each pass.
    """

    def h(x):
        x = abs(x)
        if x <= 1:
            return 1.5 * x**3 - 2.5 * x**2 + 1
        if x <= 2:
            return -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2
        return 0.0

    def contributions(in_len, out_len):
        width = 4.0 / scale if scale < 1 else 4.0
        taps = math.ceil(width) + 2
        rows = []
        for x in range(1, out_len + 1):
            u = x / scale + 0.5 * (1 - 1 / scale)
            left = math.floor(u - width / 2)
            idx = [left + k for k in range(taps)]
            if scale < 1:
                w = [scale * h(scale * (u - i)) for i in idx]
            else:
                w = [h(u - i) for i in idx]
            total = sum(w)
            rows.append((idx, [v / total for v in w]))
        aux = list(range(1, in_len + 1)) + list(range(in_len, 0, -1))
        mapped = []
        for idx, w in rows:
            if border == "symmetric":
                idx = [aux[(i - 1) % len(aux)] for i in idx]
            else:
                idx = [min(max(i, 1), in_len) for i in idx]
            mapped.append((idx, w))
        return mapped

    def matlab_uint8(v):
        return min(255, max(0, math.floor(v + 0.5)))

    image = image.astype(np.float64)
    in_h, in_w, channels = image.shape
    out_h, out_w = math.ceil(in_h * scale), math.ceil(in_w * scale)
    tmp = np.zeros((out_h, in_w, channels))
    for y, (idx, w) in enumerate(contributions(in_h, out_h)):
        for x in range(in_w):
            for c in range(channels):
                tmp[y, x, c] = matlab_uint8(
                    sum(wk * image[i - 1, x, c] for i, wk in zip(idx, w))
                )
    out = np.zeros((out_h, out_w, channels))
    for x, (idx, w) in enumerate(contributions(in_w, out_w)):
        for y in range(out_h):
            for c in range(channels):
                out[y, x, c] = matlab_uint8(
                    sum(wk * tmp[y, i - 1, c] for i, wk in zip(idx, w))
                )
    return out.astype(np.uint8)


def test_cubic_kernel_values():
    # Keys kernel, a = -0.5, at hand-computed points.
    np.testing.assert_allclose(
        cubic([0.0, 0.25, 0.75, 1.0, 1.25, 1.75, 2.0, 2.5, -0.25]),
        [1.0, 0.8671875, 0.2265625, 0.0, -0.0703125, -0.0234375, 0.0, 0.0, 0.8671875],
    )


def test_downscale_x2_weights_are_the_hand_computed_ones():
    weights, indices = resize_weights(8, 4, 0.5)
    expected = [
        -0.01171875,
        -0.03515625,
        0.11328125,
        0.43359375,
        0.43359375,
        0.11328125,
        -0.03515625,
        -0.01171875,
    ]
    np.testing.assert_allclose(weights, np.tile(expected, (4, 1)))
    # Symmetric (MATLAB `aux`) mirroring, 0-based: -3..4 -> 2 1 0 0 1 2 3 4.
    np.testing.assert_array_equal(indices[0], [2, 1, 0, 0, 1, 2, 3, 4])
    np.testing.assert_array_equal(indices[3], [3, 4, 5, 6, 7, 7, 6, 5])
    _, replicate = resize_weights(8, 4, 0.5, border="replicate")
    np.testing.assert_array_equal(replicate[0], [0, 0, 0, 0, 1, 2, 3, 4])


def test_upscale_x2_weights_are_the_hand_computed_ones():
    weights, indices = resize_weights(5, 10, 2.0)
    # Output pixel 1 samples u = 0.75: taps at distances 1.75, 0.75, -0.25, -1.25.
    np.testing.assert_allclose(
        weights[0], [-0.0234375, 0.2265625, 0.8671875, -0.0703125]
    )
    np.testing.assert_array_equal(indices[0], [1, 0, 0, 1])


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 1 / 8, 2, 3, 4, 0.7, 1.5])
def test_weights_sum_to_one(scale):
    in_len = 37
    out_len = math.ceil(in_len * scale)
    weights, indices = resize_weights(in_len, out_len, scale)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)
    assert indices.min() >= 0 and indices.max() < in_len
    # Antialiasing widens the kernel to 4 / scale (+2 taps, minus zero columns).
    assert weights.shape[1] <= math.ceil(4 / min(scale, 1)) + 2


def test_hand_worked_1d_example():
    row = np.array([[0, 0, 0, 0, 255, 255, 255, 255]], np.uint8)
    out = imresize(row, output_shape=(1, 4))
    # Output x samples u = 2x - 0.5 (1-based) with the 8 weights above:
    # -0.01171875 * 255 -> clipped 0; (0.11328125 - 0.03515625 - 0.01171875)
    # * 255 = 16.93 -> 17; (1 - 0.06640625) * 255 = 238.07 -> 238;
    # 1.01171875 * 255 -> clipped 255.
    np.testing.assert_array_equal(out[0], [0, 17, 238, 255])
    # A tie: 0.5 * 253 = 126.5 rounds half up (MATLAB), not to even.
    row = np.array([[0, 0, 0, 253, 253, 253, 253, 253]], np.uint8)
    assert imresize(row, output_shape=(1, 4))[0, 1] == 127


def test_hand_worked_upscale_example():
    column = np.array([100, 200, 200, 200], np.uint8)
    image = np.repeat(np.repeat(column[:, None, None], 3, 1), 3, 2)
    out = imresize(image, 2)
    assert out.shape == (8, 6, 3)
    # 1.09375 * 100 - 0.09375 * 200 = 90.625 -> 91, constant along the width.
    assert (out[0] == 91).all()


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 2])
@pytest.mark.parametrize("border", ["symmetric", "replicate"])
def test_matches_loop_transcription_of_matlab(rng, scale, border):
    image = rng.integers(0, 256, (13, 11, 2), dtype=np.uint8)
    expected = matlab_imresize_loops(image, scale, border)
    np.testing.assert_array_equal(imresize(image, scale, border=border), expected)


def test_uint8_rounding_between_passes_matters(rng):
    # MATLAB rounds to uint8 after the height pass; a float pipeline with one
    # final rounding differs on a fraction of the pixels.
    image = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    matlab = imresize(image, 1 / 3)
    float_path = imresize(image.astype(np.float64), 1 / 3)
    float_rounded = np.floor(np.clip(float_path, 0, 255) + 0.5).astype(np.uint8)
    differs = np.mean(matlab != float_rounded)
    assert 0.01 < differs < 0.5
    assert np.abs(matlab.astype(int) - float_rounded.astype(int)).max() <= 2


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 2, 3, 4])
@pytest.mark.parametrize("border", ["symmetric", "replicate"])
def test_constant_images_stay_constant(scale, border):
    for value in (0, 7, 128, 255):
        image = np.full((15, 22, 3), value, np.uint8)
        out = imresize(image, scale, border=border)
        assert (out == value).all()
    out = imresize(np.full((15, 22), 0.3, np.float32), scale, border=border)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, 0.3, atol=1e-6)


def test_output_sizes_follow_matlab_ceil():
    image = np.zeros((13, 10, 3), np.uint8)
    assert imresize(image, 1 / 4).shape == (4, 3, 3)
    assert imresize(image, 1 / 3).shape == (5, 4, 3)
    assert imresize(image, 1 / 2).shape == (7, 5, 3)
    assert imresize(image, 2).shape == (26, 20, 3)
    assert imresize(image, (0.5, 2)).shape == (7, 20, 3)
    assert imresize(np.zeros((255, 3)), 1 / 3).shape == (85, 1)
    assert imresize(image, output_shape=(9, 4)).shape == (9, 4, 3)


def test_height_is_resized_first():
    # With uint8 rounding between passes the order changes the result; a
    # uniform scale must process height first (MATLAB's stable sort).
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (20, 20, 1), dtype=np.uint8)
    out = imresize(image, 1 / 3)
    by_hand = imresize(imresize(image, (1 / 3, 1.0)), (1.0, 1 / 3))
    np.testing.assert_array_equal(out, by_hand)
    other_order = imresize(imresize(image, (1.0, 1 / 3)), (1 / 3, 1.0))
    assert not np.array_equal(out, other_order)


def test_modcrop_and_downscale():
    image = np.arange(13 * 10 * 3, dtype=np.uint8).reshape(13, 10, 3)
    np.testing.assert_array_equal(modcrop(image, 4), image[:12, :8])
    assert modcrop(image, 1).shape == image.shape
    lr, hr = bicubic_downscale(image, 4)
    assert hr.shape == (12, 8, 3) and lr.shape == (3, 2, 3)
    np.testing.assert_array_equal(lr, imresize(image[:12, :8], 1 / 4))
    assert bicubic_upscale(lr, 4).shape == (12, 8, 3)
    with pytest.raises(InputError, match="too small"):
        bicubic_downscale(image[:3], 4)


def test_errors():
    with pytest.raises(InputError, match="border"):
        imresize(np.zeros((4, 4)), 0.5, border="wrap")
    with pytest.raises(InputError, match="dtype"):
        imresize(np.zeros((4, 4), np.int32), 0.5)
    with pytest.raises(InputError, match="positive"):
        imresize(np.zeros((4, 4)), 0)


def test_a_2k_image_round_trips_channel_by_channel(rng):
    # Its speed is measured by benchmarks/data.py, not asserted here.
    image = rng.integers(0, 256, (1356, 2040, 3), dtype=np.uint8)
    lr = imresize(image, 1 / 4)
    up = imresize(lr, 4)
    assert lr.shape == (339, 510, 3) and up.shape == image.shape
    assert lr.dtype == up.dtype == np.uint8
    # Channels are resized independently: each equals its one-channel resize.
    for channel in range(3):
        np.testing.assert_array_equal(
            lr[..., channel], imresize(image[..., channel], 1 / 4)
        )
