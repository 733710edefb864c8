"""Checks every attention layer must pass: serialization, dtypes, XLA, shapes."""

import os

import keras
import numpy as np
import tensorflow as tf


def functional_model(layer, channels):
    inputs = keras.Input((None, None, channels))
    return keras.Model(inputs, layer(inputs))


def check_save_load(layer, x, tmp_path):
    """`.keras` round trip (safe_mode=True) gives identical outputs."""
    model = functional_model(layer, x.shape[-1])
    expected = model.predict(x, verbose=0)
    path = os.path.join(tmp_path, "layer.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), expected)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def check_dynamic_shapes(layer, channels, sizes):
    """One traced function, many batch/height/width combinations."""
    model = functional_model(layer, channels)
    fn = tf.function(
        lambda t: model(t, training=False),
        input_signature=[tf.TensorSpec([None, None, None, channels])],
    )
    rng = np.random.default_rng(0)
    for batch, height, width in sizes:
        x = rng.random((batch, height, width, channels), dtype=np.float32)
        out = fn(x).numpy()
        np.testing.assert_allclose(out, model(x).numpy(), rtol=1e-5, atol=1e-5)
        assert out.shape == x.shape


def check_xla(layer, x, atol=1e-4):
    model = functional_model(layer, x.shape[-1])
    expected = model(x).numpy()
    compiled = tf.function(lambda t: model(t), jit_compile=True)
    np.testing.assert_allclose(compiled(x).numpy(), expected, rtol=1e-4, atol=atol)


def check_mixed_precision(make_layer, x, tolerance):
    """Under mixed_float16 the output is float16 and close to float32's."""
    keras.mixed_precision.set_global_policy("float32")
    reference_layer = make_layer()
    reference = functional_model(reference_layer, x.shape[-1])
    expected = reference(x).numpy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        layer = make_layer()
        model = functional_model(layer, x.shape[-1])
        model.set_weights(reference.get_weights())
        out = model(x)
        assert out.dtype == tf.float16
        out = out.numpy().astype("float32")
        assert np.all(np.isfinite(out))
        np.testing.assert_allclose(out, expected, atol=tolerance)
    finally:
        keras.mixed_precision.set_global_policy("float32")
