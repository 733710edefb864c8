"""Where to crop a visual comparison: where SR and bicubic differ most."""

import numpy as np

from keras_enlca.errors import InputError

# Side of the automatic crop: a third of the short side, within these bounds.
MIN_CROP = 32
MAX_CROP = 128


def comparison_crop(sr, bicubic, crop=None):
    """`(x, y, width, height)` of the comparison crop, in HR pixels.

    Without `crop`, a square window (a third of the short side, 32 to 128
    pixels, at most the image) is placed where the mean absolute
    difference between `sr` and `bicubic` is largest: where the model
    changed the picture most. A given `crop` is moved inside the image
    (and cut to it) when the image is smaller, so one `--crop` serves a
    whole dataset.

    Args:
        sr: `(H, W, 3)` SR image (uint8 or float).
        bicubic: the bicubic upscale, same shape.
        crop: optional `(x, y, width, height)`.

    Returns:
        `(x, y, width, height)` integers inside the image.

    Example:

    ```python
    x, y, w, h = comparison_crop(sr, bicubic)
    ```
    """
    height, width = sr.shape[:2]
    if crop is not None:
        x, y, w, h = (int(v) for v in crop)
        if w < 1 or h < 1 or x < 0 or y < 0:
            raise InputError(f"--crop {x},{y},{w},{h}: needs x, y >= 0 and a size >= 1")
        w, h = min(w, width), min(h, height)
        return min(x, width - w), min(y, height - h), w, h
    side = min(max(MIN_CROP, min(height, width) // 3), MAX_CROP, height, width)
    difference = np.abs(sr.astype(np.float64) - bicubic.astype(np.float64)).mean(-1)
    total = np.pad(difference.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    windows = (
        total[side:, side:]
        - total[:-side, side:]
        - total[side:, :-side]
        + total[:-side, :-side]
    )
    y, x = np.unravel_index(int(np.argmax(windows)), windows.shape)
    return int(x), int(y), side, side
