import numpy as np
import pytest

from keras_enlca.layers import NonLocalAttention
from tests.layers import common


def conv1x1(x, layer):
    kernel, bias = (w.numpy().astype(np.float64) for w in layer.weights)
    return np.einsum("bhwc,co->bhwo", x, kernel[0, 0]) + bias


def numpy_non_local(layer, x):
    x = x.astype(np.float64)
    n, h, w, c = x.shape
    q = conv1x1(x, layer.query_embedding).reshape(n, h * w, -1)
    key_layer = layer.key_embedding or layer.query_embedding
    k = conv1x1(x, key_layer).reshape(n, h * w, -1)
    v = conv1x1(x, layer.value_embedding).reshape(n, h * w, c)
    s = q @ np.transpose(k, (0, 2, 1))
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return x + layer.res_scale * (p @ v).reshape(x.shape)


@pytest.mark.parametrize("shared", [False, True])
def test_matches_softmax_attention(shared, rng):
    x = rng.standard_normal((2, 7, 9, 16)).astype(np.float32)
    layer = NonLocalAttention(reduction=2, res_scale=0.5, shared_query_key=shared)
    out = layer(x).numpy()
    np.testing.assert_allclose(out, numpy_non_local(layer, x), rtol=1e-4, atol=1e-5)
    assert (layer.key_embedding is None) == shared
    assert layer.query_embedding.kernel.shape == (1, 1, 16, 8)
    # Parameters: q (+ k) 16*8+8 each, v 16*16+16.
    assert layer.count_params() == (1 if shared else 2) * 136 + 272


def test_save_load_round_trip(tmp_path, rng):
    common.check_save_load(
        NonLocalAttention(shared_query_key=True),
        rng.standard_normal((1, 6, 5, 8)).astype(np.float32),
        tmp_path,
    )


def test_dynamic_shapes():
    common.check_dynamic_shapes(
        NonLocalAttention(), 8, [(1, 9, 9), (3, 4, 7), (1, 1, 1)]
    )


def test_xla(rng):
    common.check_xla(
        NonLocalAttention(), rng.standard_normal((2, 8, 6, 8)).astype(np.float32)
    )


def test_mixed_precision(rng):
    common.check_mixed_precision(
        lambda: NonLocalAttention(res_scale=1.0),
        rng.standard_normal((1, 10, 10, 16)).astype(np.float32),
        tolerance=0.03,
    )
