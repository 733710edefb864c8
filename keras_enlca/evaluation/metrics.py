"""PSNR and SSIM with the conventions of super-resolution papers (NumPy).

These reproduce RCAN's `Evaluate_PSNR_SSIM.m`, the MATLAB script behind the
numbers in SR tables (reference spec §5.1):

- both images are `uint8` (an SR output in [0, 1] is clamped, multiplied by
  255 and rounded first, as it would be when saved to PNG);
- luminance `Y = 16 + 65.481 R + 128.553 G + 24.966 B` with R, G, B in
  [0, 1] (MATLAB `rgb2ycbcr(im2double(im))`), computed in double, stored in
  single precision, then multiplied by 255 in single precision: a float in
  [16, 235], **not** rounded;
- `shave` pixels removed from every border (papers use `shave = scale`);
- PSNR `10 log10(255^2 / mse)` in double; identical images give `inf`;
- SSIM is Wang et al.'s `ssim_index`: 11x11 Gaussian window with sigma 1.5,
  `'valid'` filtering (no padding), C1 = (0.01 * 255)^2,
  C2 = (0.03 * 255)^2, the mean of the SSIM map; no downsampling.

`y_channel=False` gives the RGB variants: PSNR over all three channels, SSIM
averaged over the channels (BasicSR's convention).

Nothing here imports TensorFlow, so `enlca score` starts quickly.
"""

import numpy as np

from keras_enlca.errors import InputError
from keras_enlca.utils.image_conventions import DATA_RANGE
from keras_enlca.utils.image_conventions import SSIM_K1
from keras_enlca.utils.image_conventions import SSIM_K2
from keras_enlca.utils.image_conventions import SSIM_WINDOW_SIZE
from keras_enlca.utils.image_conventions import Y_OFFSET
from keras_enlca.utils.image_conventions import Y_WEIGHTS
from keras_enlca.utils.image_conventions import gaussian_window  # noqa: F401 - public
from keras_enlca.utils.image_conventions import to_uint8 as quantize


def rgb_to_y(image):
    """MATLAB-convention luminance of an RGB image, in 0..255 units (float64).

    Args:
        image: `(H, W, 3)` RGB, `uint8` or float in [0, 1] (quantised first).

    Returns:
        `(H, W)` float64 array of values in [16, 235], not rounded.
    """
    array = quantize(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise InputError(
            f"rgb_to_y expects an (H, W, 3) image, got shape {array.shape}"
        )
    rgb = array.astype(np.float64) / 255.0
    y = (
        rgb[..., 0] * (Y_WEIGHTS[0] / 255.0)
        + rgb[..., 1] * (Y_WEIGHTS[1] / 255.0)
        + rgb[..., 2] * (Y_WEIGHTS[2] / 255.0)
        + Y_OFFSET / 255.0
    )
    # `single(rgb2ycbcr(...))` then `* 255` in single precision.
    return (y.astype(np.float32) * np.float32(255.0)).astype(np.float64)


def _prepare(sr, hr, shave, y_channel):
    sr = quantize(sr)
    hr = quantize(hr)
    if sr.shape != hr.shape:
        raise InputError(
            f"Images to compare differ in shape: SR {sr.shape} vs HR {hr.shape}"
        )
    if sr.ndim == 2:
        sr, hr = sr[..., None], hr[..., None]
    shave = int(shave)
    if shave < 0:
        raise InputError(f"shave must be >= 0, got {shave}")
    if y_channel and sr.shape[-1] == 3:
        a, b = rgb_to_y(hr)[..., None], rgb_to_y(sr)[..., None]
    else:
        a, b = hr.astype(np.float64), sr.astype(np.float64)
    if shave:
        if a.shape[0] <= 2 * shave or a.shape[1] <= 2 * shave:
            raise InputError(
                f"Image of shape {hr.shape} is too small to shave {shave} pixels per "
                "border"
            )
        a = a[shave:-shave, shave:-shave]
        b = b[shave:-shave, shave:-shave]
    return a, b


def psnr(sr, hr, shave=0, y_channel=True):
    """Peak signal-to-noise ratio in dB with the MATLAB conventions.

    Args:
        sr: the restored image, `(H, W, 3)` (or `(H, W)`), `uint8` or float
            in [0, 1] (clamped and rounded to `uint8` first).
        hr: the ground truth, same shape.
        shave: pixels removed from each border (papers: the scale).
        y_channel: compare the MATLAB luminance (papers) instead of RGB.

    Returns:
        A Python float; `inf` for identical images.

    Example:

    ```python
    psnr(sr, hr, shave=4)  # Set5 x4 convention
    ```
    """
    a, b = _prepare(sr, hr, shave, y_channel)
    mse = np.mean((a - b) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(DATA_RANGE**2 / mse))


def _filter_valid(image, g):
    # `filter2(window, image, 'valid')` with a separable symmetric window.
    rows = np.lib.stride_tricks.sliding_window_view(image, g.size, axis=0) @ g
    return np.lib.stride_tricks.sliding_window_view(rows, g.size, axis=1) @ g


def ssim_map(a, b):
    """SSIM map of two 2-D float images in 0..255 units (Wang's `ssim_index`)."""
    g = gaussian_window()
    c1 = (SSIM_K1 * DATA_RANGE) ** 2
    c2 = (SSIM_K2 * DATA_RANGE) ** 2
    mu1 = _filter_valid(a, g)
    mu2 = _filter_valid(b, g)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = _filter_valid(a * a, g) - mu1_sq
    sigma2_sq = _filter_valid(b * b, g) - mu2_sq
    sigma12 = _filter_valid(a * b, g) - mu1_mu2
    return ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / (
        (mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2)
    )


def ssim(sr, hr, shave=0, y_channel=True):
    """Structural similarity with the MATLAB (`ssim_index`) conventions.

    Args:
        sr: the restored image, `(H, W, 3)` (or `(H, W)`), `uint8` or float
            in [0, 1] (clamped and rounded to `uint8` first).
        hr: the ground truth, same shape.
        shave: pixels removed from each border (papers: the scale).
        y_channel: compare the MATLAB luminance (papers) instead of RGB
            (then the mean over the three channels is returned).

    Returns:
        A Python float in [-1, 1]; 1 for identical images.

    Example:

    ```python
    ssim(sr, hr, shave=4)
    ```
    """
    a, b = _prepare(sr, hr, shave, y_channel)
    if a.shape[0] < SSIM_WINDOW_SIZE or a.shape[1] < SSIM_WINDOW_SIZE:
        raise InputError(
            f"SSIM needs at least {SSIM_WINDOW_SIZE}x{SSIM_WINDOW_SIZE} pixels after "
            f"shaving, got {a.shape[0]}x{a.shape[1]}"
        )
    values = [np.mean(ssim_map(a[..., c], b[..., c])) for c in range(a.shape[-1])]
    return float(np.mean(values))
