import keras
import numpy as np
import pytest

from keras_enlca.layers import MeanShift
from tests.layers import common


def test_sub_mean_matches_reference_bias_at_rgb_range_255():
    layer = MeanShift(rgb_range=255.0, sign=-1)
    x = np.full((1, 2, 3, 3), 128.0, "float32")
    out = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(
        out[0, 0, 0], 128.0 - 255.0 * np.array([0.4488, 0.4371, 0.4040]), rtol=1e-6
    )
    np.testing.assert_allclose(
        layer.bias.numpy(), [-114.444, -111.4605, -103.02], rtol=1e-6
    )
    np.testing.assert_array_equal(layer.kernel.numpy()[0, 0], np.eye(3))


def test_weights_are_frozen_parameters():
    layer = MeanShift(rgb_range=1.0, sign=1)
    layer.build((None, None, None, 3))
    assert layer.trainable_weights == []
    assert sum(int(np.prod(w.shape)) for w in layer.weights) == 12


def test_std_divides_kernel_and_bias():
    layer = MeanShift(rgb_range=2.0, rgb_mean=(0.5, 0.25, 0.1), rgb_std=(2.0, 4.0, 0.5))
    x = np.array([[[[1.0, 2.0, 3.0]]]], "float32")
    out = keras.ops.convert_to_numpy(layer(x))[0, 0, 0]
    np.testing.assert_allclose(out, [0.5 - 0.5, 0.5 - 0.125, 6.0 - 0.4], rtol=1e-6)


def test_add_inverts_sub(rng):
    x = rng.random((2, 5, 7, 3), dtype=np.float32)
    sub = MeanShift(rgb_range=1.0, sign=-1)
    add = MeanShift(rgb_range=1.0, sign=1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(add(sub(x))), x, atol=1e-6)


def test_invalid_sign():
    with pytest.raises(ValueError, match="sign"):
        MeanShift(sign=0)


def test_save_load(rng, tmp_path):
    x = rng.random((1, 4, 4, 3), dtype=np.float32)
    common.check_save_load(MeanShift(rgb_range=255.0), x, tmp_path)
