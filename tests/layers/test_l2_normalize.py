"""`l2_normalize`: the arithmetic of `tf.math.l2_normalize`, no fused op."""

import numpy as np
import tensorflow as tf

from keras_enlca.layers.l2_normalize import l2_normalize


def test_equals_tf_l2_normalize_and_f_normalize():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 50, 16)).astype(np.float32)
    x[0, :3] *= 1e-7  # norms under epsilon: divided by epsilon, not the norm
    x[1, 0] = 0.0
    epsilon = 5e-5
    out = np.asarray(l2_normalize(tf.constant(x), epsilon))
    expected = tf.math.l2_normalize(x, axis=-1, epsilon=epsilon**2).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)
    # F.normalize: x / max(|x|, eps)
    norm = np.linalg.norm(x.astype(np.float64), axis=-1, keepdims=True)
    np.testing.assert_allclose(out, x / np.maximum(norm, epsilon), rtol=1e-5)
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out[0, 5:], axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(out[1, 0], 0.0)
