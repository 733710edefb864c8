"""The input tensors that layers inside a model receive for one image."""

import tensorflow as tf

from keras_enlca.errors import InputError


class _Captured(Exception):
    """Raised inside the forward pass once every wanted input is recorded."""


def layer_inputs(model, layers, images):
    """Runs `model` on `images` until each layer of `layers` has its input.

    A feature-extraction hook: each layer's `call` is wrapped for the
    duration of one eager forward pass (inference mode) to record the first
    input it receives; the pass stops as soon as all are recorded, so the
    last wanted layer and everything after it never run. Works for
    Functional, nested and subclassed models alike; a layer called several
    times (shared) reports its first call.

    Args:
        model: a Keras model (NHWC float32 in [0, 1]).
        layers: layers inside `model`.
        images: a float32 `(1, H, W, 3)` batch.

    Returns:
        A list of `(layer, float32 tensor)` pairs, in the order the model
        called the layers.

    Raises:
        InputError: a layer that the model never called.
    """
    captured = {}
    wanted = {id(layer) for layer in layers}

    def hook(layer, original):
        def call(inputs, *args, **kwargs):
            if id(layer) not in captured:
                captured[id(layer)] = tf.cast(tf.convert_to_tensor(inputs), "float32")
                if wanted.issubset(captured):
                    raise _Captured()
            return original(inputs, *args, **kwargs)

        return call

    for layer in layers:
        # An instance attribute shadows the class's `call` for this pass only.
        object.__setattr__(layer, "call", hook(layer, layer.call))
    try:
        model(tf.convert_to_tensor(images, tf.float32), training=False)
    except _Captured:
        pass
    finally:
        for layer in layers:
            object.__delattr__(layer, "call")
    missing = [layer.name for layer in layers if id(layer) not in captured]
    if missing:
        raise InputError(
            f"The model never called layer(s) {', '.join(missing)}: no input to map."
        )
    by_id = {id(layer): layer for layer in layers}
    return [(by_id[key], tensor) for key, tensor in captured.items()]
