"""L2 normalisation in plain arithmetic that every LiteRT delegate runs."""

from keras import ops


def l2_normalize(x, epsilon):
    """Divides the last axis of `x` by `max(|x|, epsilon)`, as `F.normalize`.

    Written as `x * rsqrt(max(sum(x ** 2), epsilon ** 2))`, the arithmetic of
    `tf.math.l2_normalize(x, axis=-1, epsilon=epsilon ** 2)`, so that TFLite
    gets SUM, MAXIMUM, RSQRT and MUL instead of `L2_NORMALIZATION`, which the
    GPU delegates and LiteRT.js's WebGPU backend have no kernel for.

    Args:
        x: tensor; normalised along its last axis.
        epsilon: float. The smallest norm divided by (reference: 5e-5).

    Returns:
        A tensor of the shape and dtype of `x`.
    """
    squared = ops.sum(ops.square(x), axis=-1, keepdims=True)
    return x * ops.rsqrt(ops.maximum(squared, epsilon**2))
