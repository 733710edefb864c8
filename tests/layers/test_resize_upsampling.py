import numpy as np
import pytest
import tensorflow as tf

from keras_enlca.layers import ResizeUpsampling


def torch_bilinear(x, scale):
    """F.interpolate(mode="bilinear", align_corners=False) in NumPy (NHWC)."""

    def axis_weights(size):
        out = size * scale
        src = (np.arange(out) + 0.5) / scale - 0.5
        src = np.maximum(src, 0.0)
        low = np.minimum(np.floor(src).astype(int), size - 1)
        high = np.minimum(low + 1, size - 1)
        frac = src - low
        return low, high, frac

    lo_h, hi_h, f_h = axis_weights(x.shape[1])
    lo_w, hi_w, f_w = axis_weights(x.shape[2])
    rows = (
        x[:, lo_h] * (1 - f_h)[None, :, None, None]
        + x[:, hi_h] * f_h[None, :, None, None]
    )
    return (
        rows[:, :, lo_w] * (1 - f_w)[None, None, :, None]
        + rows[:, :, hi_w] * f_w[None, None, :, None]
    )


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_matches_pytorch_align_corners_false(scale, rng):
    x = rng.random((2, 7, 9, 3)).astype(np.float32)
    out = ResizeUpsampling(scale, interpolation="bilinear")(x).numpy()
    assert out.shape == (2, 7 * scale, 9 * scale, 3)
    np.testing.assert_allclose(
        out, torch_bilinear(x.astype(np.float64), scale), atol=1e-5
    )


@pytest.mark.parametrize("scale", [2, 3])
def test_nearest_repeats_pixels(scale, rng):
    x = rng.random((1, 5, 4, 6)).astype(np.float32)
    out = ResizeUpsampling(scale)(x).numpy()
    np.testing.assert_array_equal(out, np.repeat(np.repeat(x, scale, 1), scale, 2))


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_traces_with_unknown_height_and_width(interpolation, rng):
    layer = ResizeUpsampling(3, interpolation=interpolation)
    fn = tf.function(layer, input_signature=[tf.TensorSpec([None, None, None, 3])])
    assert fn.get_concrete_function().structured_outputs.shape[-1] == 3
    for h, w in ((5, 6), (11, 4)):
        x = rng.random((1, h, w, 3)).astype(np.float32)
        np.testing.assert_allclose(fn(x).numpy(), layer(x).numpy())
    assert layer.compute_output_shape((None, None, 8, 3)) == (None, None, 24, 3)
    clone = ResizeUpsampling.from_config(layer.get_config())
    assert (clone.scale, clone.interpolation) == (3, interpolation)
    with pytest.raises(ValueError, match="interpolation"):
        ResizeUpsampling(2, interpolation="bicubic")


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_transposed_conv_implementation_equals_the_resize(scale, rng):
    x = rng.random((2, 7, 9, 3)).astype(np.float32)
    layer = ResizeUpsampling(
        scale, interpolation="bilinear", implementation="transposed_conv"
    )
    out = layer(x).numpy()
    assert out.shape == (2, 7 * scale, 9 * scale, 3)
    np.testing.assert_allclose(
        out, torch_bilinear(x.astype(np.float64), scale), atol=1e-5
    )
    # Unknown height and width trace (the TFLite export's case).
    fn = tf.function(layer, input_signature=[tf.TensorSpec([1, None, None, 3])])
    for h, w in ((5, 6), (1, 4)):
        y = rng.random((1, h, w, 3)).astype(np.float32)
        np.testing.assert_allclose(
            fn(y).numpy(), torch_bilinear(y.astype(np.float64), scale), atol=1e-5
        )
    clone = ResizeUpsampling.from_config(layer.get_config())
    assert clone.implementation == "transposed_conv"
    with pytest.raises(ValueError, match="implementation"):
        ResizeUpsampling(2, implementation="fft")


def test_bilinear_taps_sum_to_one_per_output_phase():
    from keras_enlca.utils.backend_dispatch import bilinear_taps

    weights, first = bilinear_taps(3)
    np.testing.assert_allclose(weights, [1 / 3, 2 / 3, 1, 2 / 3, 1 / 3], rtol=1e-6)
    assert first == -1
    for scale in (2, 3, 4):
        weights, _ = bilinear_taps(scale)
        phases = [weights[k::scale].sum() for k in range(scale)]
        np.testing.assert_allclose(phases, 1.0, rtol=1e-6)
