"""The few operations `keras.ops` lacks, one small helper per need.

Layers and models are written in `keras.ops` and run under the JAX, PyTorch
and TensorFlow backends. Where `keras.ops` has no equivalent, or its
TensorFlow lowering is not a builtin TFLite op, the helper below dispatches
on `keras.backend.backend()`; the backend module is imported inside the
branch, so nothing here imports TensorFlow under JAX or PyTorch.
"""

import keras
from keras import ops


def _is_tensorflow():
    return keras.backend.backend() == "tensorflow"


def argmax_int32(x, axis=-1):
    """Index of the largest value along `axis`, as int32.

    Under TensorFlow this is `tf.argmax(output_type=int32)`, the builtin
    TFLite `ARG_MAX`; `keras.ops.argmax` on floats there adds NaN handling
    that becomes a Flex op. Other backends use `keras.ops.argmax`.
    """
    if _is_tensorflow():
        import tensorflow as tf

        return tf.argmax(x, axis=axis, output_type=tf.int32)
    return ops.cast(ops.argmax(x, axis=axis), "int32")


def resize_by_factor(images, scale, interpolation):
    """Nearest or bilinear (half-pixel, no antialias) upsampling by `scale`.

    TensorFlow: `tf.image.resize` with a size computed at run time, so an
    unknown height and width trace and TFLite gets the builtin
    `RESIZE_NEAREST_NEIGHBOR`/`RESIZE_BILINEAR`. JAX and PyTorch know every
    shape when they run: `keras.ops.image.resize` with static sizes.
    """
    if _is_tensorflow():
        import tensorflow as tf

        shape = tf.shape(images)
        size = tf.stack([shape[1] * scale, shape[2] * scale])
        resized = tf.image.resize(images, size, method=interpolation, antialias=False)
        return tf.cast(resized, images.dtype)
    height, width = ops.shape(images)[1], ops.shape(images)[2]
    resized = ops.image.resize(
        images,
        (height * scale, width * scale),
        interpolation=interpolation,
        antialias=False,
    )
    return ops.cast(resized, images.dtype)


def assert_at_least(value, minimum, message):
    """Fails when `value < minimum`; a no-op where both are Python ints.

    Only TensorFlow traces with unknown spatial sizes (`keras.Input((None,
    None, 3))`); JAX and PyTorch always know them, so the caller raises
    before any work. Under TensorFlow an unknown size gets a run-time
    `tf.debugging` assertion (TF 2 runs it in order inside `tf.function`).
    """
    if isinstance(value, int) and isinstance(minimum, int):
        if value < minimum:
            raise ValueError(message)
        return
    if _is_tensorflow():
        import tensorflow as tf

        tf.debugging.assert_greater_equal(value, minimum, message=message)


def scale_loss_for_replicas(loss):
    """`loss / replicas` inside a `tf.distribute` replica context, else `loss`.

    `tf.distribute` sums the replicas' gradients, so each replica minimises
    its share; Keras' own compiled losses do the same. JAX
    (`keras.distribution`) and PyTorch compute one global loss.
    """
    if _is_tensorflow():
        import tensorflow as tf

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            return loss * ops.cast(1.0 / replicas, loss.dtype)
    return loss
