import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn.functional as F

from keras_enlca.convert.weights import conv_kernel
from keras_enlca.convert.weights import dense_kernel
from keras_enlca.convert.weights import pixel_shuffle_conv
from keras_enlca.convert.weights import pixel_shuffle_permutation


def test_permutation_formula():
    # keras_out[k * C + c] = torch_out[c * r**2 + k]  (spec §1.1)
    assert pixel_shuffle_permutation(2, 2).tolist() == [0, 4, 1, 5, 2, 6, 3, 7]
    perm = pixel_shuffle_permutation(5, 3)
    for k in range(9):
        for c in range(5):
            assert perm[k * 5 + c] == c * 9 + k
    assert sorted(perm.tolist()) == list(range(45))


@pytest.mark.parametrize("r", [2, 3, 4])
def test_permuted_channels_make_depth_to_space_equal_pixel_shuffle(r, rng):
    channels = 5
    x = rng.standard_normal((2, channels * r * r, 6, 7)).astype("float32")
    expected = F.pixel_shuffle(torch.from_numpy(x), r).numpy().transpose(0, 2, 3, 1)
    nhwc = x.transpose(0, 2, 3, 1)
    permuted = tf.nn.depth_to_space(
        nhwc[..., pixel_shuffle_permutation(channels, r)], r
    )
    np.testing.assert_array_equal(permuted.numpy(), expected)
    # Without the permutation the image is scrambled.
    assert np.abs(tf.nn.depth_to_space(nhwc, r).numpy() - expected).max() > 1.0


@pytest.mark.parametrize("r", [2, 3, 4])
def test_converted_conv_then_depth_to_space_equals_conv_then_pixel_shuffle(r, rng):
    channels, in_channels = 4, 6
    weight = rng.standard_normal((channels * r * r, in_channels, 3, 3)).astype(
        "float32"
    )
    bias = rng.standard_normal(channels * r * r).astype("float32")
    x = rng.standard_normal((1, in_channels, 9, 8)).astype("float32")
    expected = (
        F.pixel_shuffle(
            F.conv2d(
                torch.from_numpy(x),
                torch.from_numpy(weight),
                torch.from_numpy(bias),
                padding=1,
            ),
            r,
        )
        .numpy()
        .transpose(0, 2, 3, 1)
    )

    conv = keras.layers.Conv2D(channels * r * r, 3, padding="same")
    conv.build((None, None, None, in_channels))
    kernel, converted_bias = pixel_shuffle_conv(weight, bias, r)
    conv.kernel.assign(kernel)
    conv.bias.assign(converted_bias)
    actual = tf.nn.depth_to_space(conv(x.transpose(0, 2, 3, 1)), r).numpy()
    np.testing.assert_allclose(actual, expected, atol=2e-5, rtol=0)


def test_conv_kernel_layout(rng):
    weight = rng.standard_normal((7, 3, 3, 5)).astype(
        "float32"
    )  # (O, I, kh, kw), non-square
    x = rng.standard_normal((1, 3, 8, 9)).astype("float32")
    expected = F.conv2d(
        torch.from_numpy(x), torch.from_numpy(weight), padding=(1, 2)
    ).numpy()
    kernel = conv_kernel(weight)
    assert kernel.shape == (3, 5, 3, 7)
    actual = tf.nn.conv2d(x.transpose(0, 2, 3, 1), kernel, 1, "SAME").numpy()
    np.testing.assert_allclose(
        actual, expected.transpose(0, 2, 3, 1), atol=1e-5, rtol=0
    )


def test_dense_kernel_layout(rng):
    weight = rng.standard_normal((10, 40)).astype("float32")
    x = rng.standard_normal((3, 40)).astype("float32")
    expected = F.linear(torch.from_numpy(x), torch.from_numpy(weight)).numpy()
    np.testing.assert_allclose(x @ dense_kernel(weight), expected, atol=1e-5, rtol=0)


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="4-D conv weight"):
        conv_kernel(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="2-D linear weight"):
        dense_kernel(np.zeros((3, 3, 1, 1)))
    with pytest.raises(ValueError, match=r"multiple of 9 output channels, got 8"):
        pixel_shuffle_conv(np.zeros((8, 2, 3, 3)), None, 3)
