"""The few operations `keras.ops` lacks, one small helper per need.

Layers and models are written in `keras.ops` and run under the JAX, PyTorch
and TensorFlow backends. Where `keras.ops` has no equivalent, or its
TensorFlow lowering is not a builtin TFLite op, the helper below dispatches
on `keras.backend.backend()`; the backend module is imported inside the
branch, so nothing here imports TensorFlow under JAX or PyTorch.
"""

import keras
import numpy as np
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


def bilinear_taps(scale):
    """`(weights, first offset)` of bilinear upsampling by `scale` as a
    transposed convolution: output `o` takes input `i` with weight
    `max(0, 1 - |o - scale * i + 0.5 - scale / 2| / scale)` (half-pixel
    centres), nonzero for `o - scale * i` from the first offset on. For 3:
    `[1/3, 2/3, 1, 2/3, 1/3]` from -1; every output phase's weights sum to 1.
    """
    offsets = np.arange(-scale, 2 * scale + 1)
    weights = np.maximum(0.0, 1.0 - np.abs(offsets + 0.5 - scale / 2) / scale)
    keep = weights > 0
    return weights[keep].astype("float32"), int(offsets[keep][0])


def bilinear_by_transposed_conv(images, scale):
    """Bilinear upsampling (as `resize_by_factor`) by transposed convolutions.

    The image is padded by one edge pixel on each side (bilinear clamps
    there), then upsampled along height and along width by a transposed
    convolution with `bilinear_taps(scale)` per channel, and cropped. Equal
    to `resize_by_factor(images, scale, "bilinear")` to float rounding;
    TFLite gets MIRROR_PAD, TRANSPOSE_CONV and STRIDED_SLICE, which int8
    quantises with one rounding per pass (its int8 RESIZE_BILINEAR kernel
    is off by 2.1 grey levels RMS on a photo at x3).
    """
    weights, first = bilinear_taps(scale)
    channels = images.shape[-1]
    taps = len(weights)
    eye = np.eye(channels, dtype="float32")
    # In the images' dtype (float16 under mixed precision).
    along_height = ops.cast(
        weights[:, None, None, None] * eye[None, None], images.dtype
    )
    along_width = ops.cast(weights[None, :, None, None] * eye[None, None], images.dtype)
    start = scale - first  # output 0 in the padded image's full output
    if _is_tensorflow():
        import tensorflow as tf

        padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
        shape = tf.shape(padded)
        batch, height, width = shape[0], shape[1] - 2, shape[2] - 2
        rows = tf.nn.conv2d_transpose(
            padded,
            along_height,
            tf.stack([batch, (height + 1) * scale + taps, width + 2, channels]),
            strides=[1, scale, 1, 1],
            padding="VALID",
        )[:, start : start + scale * height]
        both = tf.nn.conv2d_transpose(
            rows,
            along_width,
            tf.stack([batch, scale * height, (width + 1) * scale + taps, channels]),
            strides=[1, 1, scale, 1],
            padding="VALID",
        )
        return tf.cast(both[:, :, start : start + scale * width], images.dtype)
    height, width = ops.shape(images)[1], ops.shape(images)[2]
    padded = ops.concatenate([images[:, :1], images, images[:, -1:]], axis=1)
    padded = ops.concatenate([padded[:, :, :1], padded, padded[:, :, -1:]], axis=2)
    rows = ops.conv_transpose(padded, along_height, (scale, 1), padding="valid")
    rows = rows[:, start : start + scale * height]
    both = ops.conv_transpose(rows, along_width, (1, scale), padding="valid")
    return ops.cast(both[:, :, start : start + scale * width], images.dtype)


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
