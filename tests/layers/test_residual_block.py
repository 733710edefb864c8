import numpy as np
import pytest
import tensorflow as tf

from keras_enlca.layers import ResidualBlock
from tests.layers import common


def test_matches_formula(rng):
    layer = ResidualBlock(filters=8, res_scale=0.1)
    x = rng.standard_normal((2, 7, 5, 8)).astype("float32")
    layer.build(x.shape)
    layer.conv1.bias.assign(rng.standard_normal(8).astype("float32"))
    k1, b1 = layer.conv1.kernel.numpy(), layer.conv1.bias.numpy()
    k2, b2 = layer.conv2.kernel.numpy(), layer.conv2.bias.numpy()
    out = layer(x).numpy()
    hidden = tf.nn.relu(tf.nn.conv2d(x, k1, 1, "SAME") + b1)
    expected = x + 0.1 * (tf.nn.conv2d(hidden, k2, 1, "SAME") + b2).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert [w.shape for w in layer.weights] == [(3, 3, 8, 8), (8,), (3, 3, 8, 8), (8,)]


def test_rejects_wrong_channel_count():
    with pytest.raises(ValueError, match="filters=8"):
        ResidualBlock(filters=8)(np.zeros((1, 4, 4, 6), "float32"))


def test_save_load_and_shapes(rng, tmp_path):
    x = rng.random((1, 5, 9, 4), dtype=np.float32)
    common.check_save_load(ResidualBlock(4, res_scale=0.5), x, tmp_path)
    common.check_dynamic_shapes(ResidualBlock(4), 4, [(1, 3, 5), (2, 8, 7)])
