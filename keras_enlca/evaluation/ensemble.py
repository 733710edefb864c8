"""The reference x8 self-ensemble (`forward_x8`, results marked "+")."""

import numpy as np

from keras_enlca.errors import InputError


def _transform(x, op):
    # NHWC: "v" flips the width, "h" the height, "t" swaps them.
    if op == "v":
        return x[:, :, ::-1]
    if op == "h":
        return x[:, ::-1]
    return np.swapaxes(x, 1, 2)


def ensemble_inputs(images):
    """The 8 dihedral variants in the reference order.

    `[x, v(x), h(x), h(v(x)), t(x), t(v(x)), t(h(x)), t(h(v(x)))]`, where
    `v` flips the width, `h` flips the height and `t` transposes.
    """
    inputs = [images]
    for op in ("v", "h", "t"):
        inputs.extend([_transform(t, op) for t in inputs])
    return inputs


def invert_output(output, index):
    """Undo the transform of ensemble input `index` on its output."""
    if index > 3:
        output = _transform(output, "t")
    if index % 4 > 1:
        output = _transform(output, "h")
    if (index % 4) % 2 == 1:
        output = _transform(output, "v")
    return output


def self_ensemble(fn, images):
    """Average `fn` over the 8 flips/transposes of the input (reference `forward_x8`).

    Each of the 8 variants goes through `fn` (which may itself be a
    `forward_chop` or tiling wrapper), the outputs are transformed back and
    averaged in float; quantise afterwards, as the reference does.

    Args:
        fn: callable on NHWC float32 [0, 1] batches returning NHWC outputs.
        images: `(N, H, W, C)` or `(H, W, C)` float array.

    Returns:
        The float32 mean of the 8 outputs, with the same rank as `images`.

    Example:

    ```python
    sr_plus = self_ensemble(model, lr[None] / 255.0)
    ```
    """
    x = np.asarray(images, dtype=np.float32)
    squeeze = x.ndim == 3
    if squeeze:
        x = x[None]
    if x.ndim != 4:
        raise InputError(
            f"self_ensemble expects NHWC or HWC images, got shape {x.shape}"
        )
    total = None
    for index, variant in enumerate(ensemble_inputs(x)):
        output = np.asarray(fn(np.ascontiguousarray(variant)), dtype=np.float32)
        output = invert_output(output, index)
        if total is None:
            total = output.astype(np.float32, copy=True)
        else:
            if output.shape != total.shape:
                raise InputError(
                    f"Self-ensemble outputs differ in shape ({output.shape} vs "
                    f"{total.shape}); the model must accept transposed inputs"
                )
            total += output
    out = total / np.float32(8.0)
    return out[0] if squeeze else out
