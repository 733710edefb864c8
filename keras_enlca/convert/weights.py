"""Weight-layout transforms from PyTorch to Keras.

- `nn.Conv2d` weight `(O, I, kh, kw)` -> `Conv2D` kernel `(kh, kw, I, O)`.
- `nn.Linear` weight `(O, I)` -> `Dense` kernel `(I, O)`.
- The conv feeding `nn.PixelShuffle(r)` gets its output channels permuted so
  that `tf.nn.depth_to_space` (NHWC) produces the same image.
"""

import numpy as np


def conv_kernel(weight):
    """PyTorch `Conv2d.weight` `(O, I, kh, kw)` -> Keras kernel `(kh, kw, I, O)`."""
    weight = np.asarray(weight)
    if weight.ndim != 4:
        raise ValueError(f"Expected a 4-D conv weight, got shape {weight.shape}.")
    return np.ascontiguousarray(weight.transpose(2, 3, 1, 0))


def dense_kernel(weight):
    """PyTorch `Linear.weight` `(O, I)` -> Keras `Dense` kernel `(I, O)`."""
    weight = np.asarray(weight)
    if weight.ndim != 2:
        raise ValueError(f"Expected a 2-D linear weight, got shape {weight.shape}.")
    return np.ascontiguousarray(weight.T)


def pixel_shuffle_permutation(channels, block_size):
    """Channel order that turns a PixelShuffle conv into a depth_to_space one.

    `nn.PixelShuffle(r)` (NCHW) takes input channel `c * r**2 + k` to output
    channel `c` at sub-pixel `k = i * r + j`; `tf.nn.depth_to_space` (NHWC)
    takes it from channel `k * C + c`. Hence

        keras_channel[k * C + c] = torch_channel[c * r**2 + k].

    Args:
        channels: output channels `C` after the shuffle.
        block_size: the shuffle factor `r`.

    Returns:
        An int array `perm` of length `C * r**2` with
        `keras_out = torch_out[..., perm]`.

    Example:

    ```python
    perm = pixel_shuffle_permutation(channels=2, block_size=2)
    perm.tolist()  # [0, 4, 1, 5, 2, 6, 3, 7]
    ```
    """
    r2 = block_size * block_size
    k, c = np.meshgrid(np.arange(r2), np.arange(channels), indexing="ij")
    return (c * r2 + k).reshape(-1)


def pixel_shuffle_conv(weight, bias, block_size):
    """Convert the conv feeding a `PixelShuffle(r)` for `depth_to_space`.

    Args:
        weight: PyTorch conv weight `(C * r**2, I, kh, kw)`.
        bias: PyTorch conv bias `(C * r**2,)` or `None`.
        block_size: the shuffle factor `r`.

    Returns:
        `(kernel, bias)`: the Keras kernel `(kh, kw, I, C * r**2)` and bias with
        output channels permuted by `pixel_shuffle_permutation`.
    """
    weight = np.asarray(weight)
    out_channels = weight.shape[0]
    r2 = block_size * block_size
    if out_channels % r2:
        raise ValueError(
            f"A conv feeding PixelShuffle({block_size}) needs a multiple of "
            f"{r2} output channels, got {out_channels}."
        )
    perm = pixel_shuffle_permutation(out_channels // r2, block_size)
    kernel = conv_kernel(weight[perm])
    if bias is not None:
        bias = np.asarray(bias)[perm]
    return kernel, bias
