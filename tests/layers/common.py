"""Checks every attention layer must pass: serialization, dtypes, XLA, shapes.

They run under every Keras backend (the backend matrix of `.ci/run`), except
the TFLite conversion, which is TensorFlow's.
"""

import os

import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def traced_inference(model, channels):
    """The model's inference call, traced once for any size under TensorFlow.

    JAX and PyTorch know every shape when they run: their eager call is
    what runs at each size.
    """
    if BACKEND == "tensorflow":
        import tensorflow as tf

        fn = tf.function(
            lambda t: model(t, training=False),
            input_signature=[tf.TensorSpec([None, None, None, channels])],
        )
        return lambda x: to_numpy(fn(x))
    return lambda x: to_numpy(model(x, training=False))


def compiled(model):
    """The model's call compiled with XLA (TensorFlow, JAX); PyTorch skips."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        fn = tf.function(lambda t: model(t), jit_compile=True)
        return lambda x: to_numpy(fn(x))
    if BACKEND == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        fn = jax.jit(lambda x: model.stateless_call(trainable, non_trainable, x)[0])
        return lambda x: to_numpy(fn(x))
    pytest.skip("XLA compilation is for TensorFlow and JAX.")


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
    fn = traced_inference(model, channels)
    rng = np.random.default_rng(0)
    for batch, height, width in sizes:
        x = rng.random((batch, height, width, channels), dtype=np.float32)
        out = fn(x)
        np.testing.assert_allclose(out, to_numpy(model(x)), rtol=1e-5, atol=1e-5)
        assert out.shape == x.shape


def check_xla(layer, x, atol=1e-4):
    model = functional_model(layer, x.shape[-1])
    expected = to_numpy(model(x))
    np.testing.assert_allclose(compiled(model)(x), expected, rtol=1e-4, atol=atol)


def check_mixed_precision(make_layer, x, tolerance):
    """Under mixed_float16 the output is float16 and close to float32's."""
    keras.mixed_precision.set_global_policy("float32")
    reference_layer = make_layer()
    reference = functional_model(reference_layer, x.shape[-1])
    expected = to_numpy(reference(x))
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        layer = make_layer()
        model = functional_model(layer, x.shape[-1])
        model.set_weights(reference.get_weights())
        out = model(x)
        assert keras.backend.standardize_dtype(out.dtype) == "float16"
        out = to_numpy(out).astype("float32")
        assert np.all(np.isfinite(out))
        np.testing.assert_allclose(out, expected, atol=tolerance)
    finally:
        keras.mixed_precision.set_global_policy("float32")


# --- The contract every public layer passes (tests/layers/test_layer_contract.py) ---


def weight_counts(layer):
    """`(trainable, non-trainable)` scalar counts of a built layer."""

    def size(weights):
        return sum(int(np.prod(w.shape)) for w in weights)

    return size(layer.trainable_weights), size(layer.non_trainable_weights)


def check_config_has_every_argument(layer):
    """`get_config()` returns every constructor argument and rebuilds the layer."""
    import inspect

    config = layer.get_config()
    arguments = [
        name
        for name, p in inspect.signature(type(layer).__init__).parameters.items()
        if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]
    missing = [name for name in arguments if name not in config]
    assert not missing, f"{type(layer).__name__}.get_config() lacks {missing}"
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def check_dynamic_output_shapes(layer, channels, sizes, scale, out_channels):
    """One traced function, many sizes; output `(b, h*scale, w*scale, out)`."""
    model = functional_model(layer, channels)
    fn = traced_inference(model, channels)
    rng = np.random.default_rng(0)
    for batch, height, width in sizes:
        x = rng.random((batch, height, width, channels), dtype=np.float32)
        out = fn(x)
        assert out.shape == (batch, height * scale, width * scale, out_channels)
        np.testing.assert_allclose(out, to_numpy(model(x)), rtol=1e-5, atol=1e-5)


def check_tflite_builtin(layer, channels, sizes, tmp_path, atol=2e-5):
    """Converts with LiteRT builtin ops only; LiteRT matches Keras at `sizes`.

    Returns the set of TFLite op names of the converted model.
    """
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    model = functional_model(layer, channels)
    saved = os.path.join(tmp_path, "saved")
    model.export(
        saved,
        format="tf_saved_model",
        verbose=False,
        input_signature=[tf.TensorSpec([1, None, None, channels])],
    )
    converter = tf.lite.TFLiteConverter.from_saved_model(saved)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = Interpreter(model_content=converter.convert())
    detail = interpreter.get_input_details()[0]
    rng = np.random.default_rng(0)
    for height, width in sizes:
        x = rng.random((1, height, width, channels), dtype=np.float32)
        interpreter.resize_tensor_input(detail["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(detail["index"], x)
        interpreter.invoke()
        out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        np.testing.assert_allclose(out, model(x).numpy(), atol=atol)
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert not any(op.startswith("FLEX") or op == "CUSTOM" for op in ops), ops
    return ops
