import numpy as np

from keras_enlca.layers import PixelAttention
from tests.layers import common


def test_matches_formula(rng):
    layer = PixelAttention(6)
    x = rng.standard_normal((2, 4, 5, 6)).astype("float32")
    layer.build(x.shape)
    layer.conv.bias.assign(rng.standard_normal(6).astype("float32"))
    out = layer(x).numpy()
    kernel, bias = layer.conv.kernel.numpy()[0, 0], layer.conv.bias.numpy()
    gate = 1.0 / (1.0 + np.exp(-(x @ kernel + bias)))
    np.testing.assert_allclose(out, x * gate, rtol=1e-5, atol=1e-6)


def test_save_load(rng, tmp_path):
    x = rng.random((1, 4, 4, 3), dtype=np.float32)
    common.check_save_load(PixelAttention(3), x, tmp_path)
