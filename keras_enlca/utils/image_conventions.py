"""The 8-bit and MATLAB conventions of SR evaluation, each defined once.

- `to_uint8`: float [0, 1] -> `uint8`: clamp, x255, round half away from
  zero (MATLAB `uint8()` / `im2uint8`); what a saved PNG holds, what the
  metrics compare and what exported models are fed. The in-graph twin is
  `keras_enlca.utils.tensor_metrics.to_levels`, and exported graphs round
  their output the same way (`floor(x * 255 + 0.5)`).
- `Y_WEIGHTS`, `Y_OFFSET`: MATLAB `rgb2ycbcr` luminance on [0, 1] RGB.
- `DATA_RANGE`, `SSIM_*`, `gaussian_window`: Wang et al.'s `ssim_index`.

NumPy only: the TensorFlow-free runtime (`enlca score`, the LiteRT runner)
uses it, and the in-graph metrics below `keras_enlca.models` too.
"""

import numpy as np

from keras_enlca.errors import InputError

# MATLAB rgb2ycbcr coefficients (rows R, G, B) for Y, on [0, 1] inputs.
Y_WEIGHTS = (65.481, 128.553, 24.966)
Y_OFFSET = 16.0

DATA_RANGE = 255.0
SSIM_WINDOW_SIZE = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def to_uint8(image):
    """An image as MATLAB would read it back from a PNG: `uint8`.

    `uint8` input is returned unchanged. Float input is taken to be in
    [0, 1]: clamped, multiplied by 255 and rounded half away from zero
    (MATLAB `uint8()`; for values >= 0 that is `floor(x + 0.5)`), in the
    input's precision: float64 stays float64, float32 (and float16) is
    computed in float32, exactly as the in-graph metrics and the exported
    models' output rounding do, so all of them agree to the pixel.

    Raises:
        InputError: for integer or other non-float, non-uint8 input.

    Example:

    ```python
    to_uint8(np.array([0.5 / 255, 1.5 / 255, 1.2]))  # [1, 2, 255]
    ```
    """
    array = np.asarray(image)
    if array.dtype == np.uint8:
        return array
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(
            "Expected a uint8 image or a float image in [0, 1], got dtype "
            f"{array.dtype}"
        )
    dtype = np.float64 if array.dtype.itemsize >= 8 else np.float32
    scaled = np.clip(array.astype(dtype, copy=False), 0.0, 1.0) * dtype(255.0)
    return np.floor(scaled + dtype(0.5)).astype(np.uint8)


def gaussian_window(size=SSIM_WINDOW_SIZE, sigma=SSIM_SIGMA):
    """MATLAB `fspecial('gaussian', size, sigma)` as its 1-D factor (sums to 1)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()
