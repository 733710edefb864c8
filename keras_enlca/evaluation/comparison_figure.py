"""The papers' visual comparison: one crop of LR, bicubic, SR and HR."""

import numpy as np

from keras_enlca.evaluation.comparison_crop import comparison_crop
from keras_enlca.utils.image_conventions import to_uint8
from keras_enlca.visualization.attention_figure import display_size
from keras_enlca.visualization.panel_grid import panel_grid


def _enlarge(crop, size):
    """Nearest-neighbour enlargement by a whole factor (pixels stay visible)."""
    factor = max(1, size[0] // crop.shape[0])
    return np.repeat(np.repeat(crop, factor, axis=0), factor, axis=1)


def _scores(psnr, ssim):
    if psnr is None:
        return ""
    return f" {psnr:.2f} dB" + ("" if ssim is None else f" / {ssim:.4f}")


def comparison_figure(lr, bicubic, sr, hr, scale, crop=None, name="", scores=None):
    """LR (nearest-upscaled), bicubic, SR and HR, cropped alike, labelled.

    The crop is `comparison_crop(sr, bicubic, crop)` (HR pixels); each
    panel shows it enlarged by the same whole factor, pixels kept sharp.

    Args:
        lr: `(h, w, 3)` LR image; shown upscaled by `scale` with nearest.
        bicubic: `(h * scale, w * scale, 3)` bicubic upscale.
        sr: the model's output, same shape.
        hr: the ground truth, same shape.
        scale: the upscaling factor.
        crop: optional `(x, y, width, height)` in HR pixels.
        name: the image's name, shown in the HR panel's label.
        scores: optional dict with `psnr`, `ssim`, `bicubic_psnr`,
            `bicubic_ssim` (shown in the labels).

    Returns:
        `(figure, crop)`: a uint8 `(height, width, 3)` array and the crop
        used, `(x, y, width, height)`.

    Example:

    ```python
    figure, crop = comparison_figure(lr, bicubic, sr, hr, 4, scores=entry)
    ```
    """
    scores = scores or {}
    images = [to_uint8(np.asarray(a)) for a in (bicubic, sr, hr)]
    lr = to_uint8(np.asarray(lr))
    nearest = np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1)
    height, width = images[2].shape[:2]
    nearest = nearest[:height, :width]
    x, y, w, h = comparison_crop(images[1], images[0], crop)
    size = display_size(h, w)
    panels = [_enlarge(a[y : y + h, x : x + w], size) for a in (nearest, *images)]
    labels = [
        f"LR x{scale} (nearest)",
        "Bicubic" + _scores(scores.get("bicubic_psnr"), scores.get("bicubic_ssim")),
        "SR" + _scores(scores.get("psnr"), scores.get("ssim")),
        f"HR {name} ({x},{y} {w}x{h})".replace("  ", " "),
    ]
    return panel_grid(panels, labels, columns=4), (x, y, w, h)
