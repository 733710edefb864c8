import numpy as np
import pytest
import torch

from keras_enlca.layers import PixelShuffle
from tests.layers import common


@pytest.mark.parametrize("r", [2, 3])
def test_torch_pixel_shuffle_after_channel_permutation(rng, r):
    """`keras_out[k*C + c] = torch_out[c*r*r + k]` maps the two orders."""
    channels = 5
    x_torch = rng.standard_normal((2, channels * r * r, 3, 4)).astype("float32")
    expected = torch.nn.PixelShuffle(r)(torch.from_numpy(x_torch)).numpy()
    permutation = [c * r * r + k for k in range(r * r) for c in range(channels)]
    x_keras = x_torch[:, permutation].transpose(0, 2, 3, 1)
    out = PixelShuffle(r)(x_keras).numpy()
    np.testing.assert_array_equal(out, expected.transpose(0, 2, 3, 1))


def test_depth_to_space_order():
    x = np.arange(8, dtype="float32").reshape(1, 1, 1, 8)
    out = PixelShuffle(2)(x).numpy()
    # Channel (i*2 + j)*2 + c lands at pixel (i, j), channel c.
    np.testing.assert_array_equal(out[0, :, :, 0], [[0, 2], [4, 6]])
    np.testing.assert_array_equal(out[0, :, :, 1], [[1, 3], [5, 7]])


def test_output_shape_and_save_load(rng, tmp_path):
    layer = PixelShuffle(3)
    assert layer.compute_output_shape((None, 5, None, 18)) == (None, 15, None, 2)
    x = rng.random((1, 3, 5, 9), dtype=np.float32)
    common.check_save_load(PixelShuffle(3), x, tmp_path)
