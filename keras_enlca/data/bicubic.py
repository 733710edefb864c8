"""MATLAB-compatible bicubic `imresize` (how SR benchmark LR images are made).

This reproduces MATLAB's `imresize(im, scale, 'bicubic')`, the function
every DIV2K/Set5/... LR file was generated with:

- Keys cubic kernel with a = -0.5;
- when shrinking, antialiasing: the kernel is stretched by `1 / scale`
  (width `4 / scale`) and its weights scaled by `scale`;
- output size `ceil(in * scale)`; output pixel `x` (1-based) samples the input
  at `u = x / scale + 0.5 * (1 - 1 / scale)`, with taps from
  `floor(u - width / 2)` over `ceil(width) + 2` positions, weights normalised
  to sum to one;
- separable, one dimension after the other in order of increasing scale
  factor (MATLAB's `sort(scale)`), so **height first** for a uniform scale;
- on `uint8` input every pass is rounded (half away from zero) and clipped to
  `uint8`, exactly as MATLAB's `imresizemex` returns the input class. Float
  input stays float throughout (that is BasicSR's variant).

Border handling: `border="symmetric"` (default) mirrors the image including
its edge pixel, `[1..n, n..1]`, which is what current MATLAB does; it
reproduces the LR images of the EDSR `benchmark.tar` (as bundled in the A2N
repository) and the official DIV2K `LR_bicubic`. `border="replicate"` repeats
the edge pixel; it reproduces the LR images of RCAN's
`Prepare_TestData_HR_LR.m` (an older MATLAB). See the reference spec §5.3.

The implementation is NumPy in float64: for each dimension it gathers the
`ceil(width) + 2` taps and accumulates them, so a 2K image takes a small
fraction of a second.
"""

import math

import numpy as np

from keras_enlca.errors import InputError

BORDER_MODES = ("symmetric", "replicate")


def cubic(x):
    """Keys cubic convolution kernel with a = -0.5 (MATLAB's `cubic`)."""
    absx = np.abs(np.asarray(x, dtype=np.float64))
    absx2 = absx * absx
    absx3 = absx2 * absx
    inner = (1.5 * absx3 - 2.5 * absx2 + 1.0) * (absx <= 1.0)
    outer = (-0.5 * absx3 + 2.5 * absx2 - 4.0 * absx + 2.0) * (
        (absx > 1.0) & (absx <= 2.0)
    )
    return inner + outer


def resize_weights(in_length, out_length, scale, antialiasing=True, border="symmetric"):
    """Weights and source indices of a 1-D MATLAB bicubic resize.

    Args:
        in_length: input length.
        out_length: output length.
        scale: output / input scale factor (as given to MATLAB, e.g. 0.25).
        antialiasing: stretch the kernel when shrinking (MATLAB default).
        border: "symmetric" or "replicate" (see the module docstring).

    Returns:
        `(weights, indices)`, both `(out_length, taps)`: output pixel `i` is
        `sum_p weights[i, p] * input[indices[i, p]]`; indices are 0-based
        and already mapped into `[0, in_length)`. Each row of `weights`
        sums to one.
    """
    if border not in BORDER_MODES:
        raise InputError(f"Unknown border mode {border!r}; use one of {BORDER_MODES}")
    kernel_width = 4.0
    shrinking = scale < 1 and antialiasing
    if shrinking:
        kernel_width = kernel_width / scale
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - kernel_width / 2.0)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    distance = u[:, None] - indices
    if shrinking:
        weights = scale * cubic(distance * scale)
    else:
        weights = cubic(distance)
    weights = weights / np.sum(weights, axis=1, keepdims=True)
    # Drop tap columns that are zero for every output pixel (MATLAB's `kill`).
    keep = np.any(weights != 0, axis=0)
    weights = weights[:, keep]
    indices = indices[:, keep].astype(np.int64) - 1  # to 0-based
    if border == "symmetric":
        mirror = np.concatenate([np.arange(in_length), np.arange(in_length)[::-1]])
        indices = mirror[np.mod(indices, 2 * in_length)]
    else:
        indices = np.clip(indices, 0, in_length - 1)
    return weights, indices


def _resize_along(array, axis, weights, indices, to_uint8):
    moved = np.ascontiguousarray(np.moveaxis(array, axis, 0))
    out = np.zeros((weights.shape[0],) + moved.shape[1:], dtype=np.float64)
    shape = (-1,) + (1,) * (moved.ndim - 1)
    for p in range(weights.shape[1]):
        out += weights[:, p].reshape(shape) * moved[indices[:, p]]
    if to_uint8:
        out = np.floor(np.clip(out, 0.0, 255.0) + 0.5)
    return np.moveaxis(out, 0, axis)


def _output_shape(in_shape, scale, output_shape):
    if output_shape is not None:
        output_shape = tuple(int(v) for v in output_shape)
        if len(output_shape) != 2 or min(output_shape) < 1:
            raise InputError(
                f"output_shape must be (height, width) >= 1, got {output_shape}"
            )
        scales = tuple(o / i for o, i in zip(output_shape, in_shape))
        return output_shape, scales
    if scale is None:
        raise InputError("imresize needs `scale` or `output_shape`")
    scales = tuple(scale) if isinstance(scale, (tuple, list)) else (scale, scale)
    scales = tuple(float(s) for s in scales)
    if min(scales) <= 0:
        raise InputError(f"imresize scale must be positive, got {scale}")
    shape = tuple(int(math.ceil(i * s)) for i, s in zip(in_shape, scales))
    return shape, scales


def imresize(
    image, scale=None, output_shape=None, antialiasing=True, border="symmetric"
):
    """Resize like MATLAB `imresize(image, scale, 'bicubic')`.

    Args:
        image: `(H, W)` or `(H, W, C)` array. `uint8` input gives `uint8`
            output with MATLAB's rounding after each pass; float input gives
            float output (same dtype) without intermediate rounding.
        scale: a number or `(scale_h, scale_w)`; the output is
            `ceil(in * scale)`. Use `1 / 4` for a x4 downscale.
        output_shape: `(height, width)` instead of `scale` (the scale is then
            `out / in` per dimension, as in MATLAB).
        antialiasing: MATLAB's `'Antialiasing'` option (default on).
        border: "symmetric" (current MATLAB, default) or "replicate"
            (older MATLAB; RCAN's test data), see the module docstring.

    Returns:
        The resized array.

    Example:

    ```python
    hr = keras_enlca.data.modcrop(keras_enlca.data.read_image("baby.png"), 4)
    lr = keras_enlca.data.imresize(hr, 1 / 4)  # like the benchmark LR files
    ```
    """
    array = np.asarray(image)
    if array.ndim not in (2, 3):
        raise InputError(
            f"imresize expects an (H, W) or (H, W, C) image, got shape {array.shape}"
        )
    is_uint8 = array.dtype == np.uint8
    if not is_uint8 and not np.issubdtype(array.dtype, np.floating):
        raise InputError(
            f"imresize expects uint8 or float pixels, got dtype {array.dtype}"
        )
    in_shape = array.shape[:2]
    if min(in_shape) < 1:
        raise InputError(f"imresize got an empty image of shape {array.shape}")
    out_shape, scales = _output_shape(in_shape, scale, output_shape)
    out = array.astype(np.float64)
    # MATLAB: `[~, order] = sort(scale)`, a stable sort, so ties keep H first.
    for dim in sorted(range(2), key=lambda d: scales[d]):
        weights, indices = resize_weights(
            in_shape[dim], out_shape[dim], scales[dim], antialiasing, border
        )
        out = _resize_along(out, dim, weights, indices, to_uint8=is_uint8)
    if is_uint8:
        return out.astype(np.uint8)
    return out.astype(array.dtype)


def modcrop(image, scale):
    """Crop an image (top-left anchored) so height and width divide by `scale`.

    Example:

    ```python
    modcrop(np.zeros((13, 10, 3)), 4).shape  # (12, 8, 3)
    ```
    """
    array = np.asarray(image)
    scale = int(scale)
    height = array.shape[0] - array.shape[0] % scale
    width = array.shape[1] - array.shape[1] % scale
    return array[:height, :width]


def bicubic_downscale(hr, scale, border="symmetric"):
    """LR image as the benchmarks make it: MATLAB bicubic of `modcrop(hr, scale)`.

    Returns:
        `(lr, hr_cropped)`.
    """
    hr = modcrop(hr, scale)
    if hr.shape[0] < scale or hr.shape[1] < scale:
        raise InputError(f"Image of shape {hr.shape} is too small for scale {scale}")
    return imresize(hr, 1.0 / scale, border=border), hr


def bicubic_upscale(lr, scale, border="symmetric"):
    """MATLAB bicubic upscale of an LR image by an integer `scale` (the baseline)."""
    return imresize(lr, scale, border=border)
