"""The reference `forward_chop`: split an LR image into four overlapping crops.

Published ENLCN, NLSN and A2N numbers were measured with `--chop`; since
their attention (and A2N's global-average gate) sees the whole input, the
chopped output differs from a whole-image run, so reproducing those numbers
needs this exact procedure (reference spec §1.3).

Two variants:

- `"enlca"` (ENLCA and NLSN repositories): `shave=10`, `min_size=120000`;
  the crop height `h // 2 + shave` is then raised to the next multiple of 4
  (`h_size += 4 - h_size % 4`, so by 1..4) and the width to the next multiple
  of 8 (`w_size += 8 - w_size % 8`).
- `"a2n"` (A2N repository, old upstream EDSR): `shave=10`, `min_size=160000`,
  no rounding.

The four crops (top-left, top-right, bottom-left, bottom-right) are run one
at a time when `h_size * w_size < min_size`, otherwise each is chopped again
recursively. The output quadrants are taken from each crop's own outer
corner.
"""

import numpy as np

from keras_enlca.errors import InputError

CHOP_VARIANTS = {
    # variant: (default min_size, round crop sizes up to multiples of (4, 8))
    "enlca": (120000, True),
    "nlsn": (120000, True),
    "a2n": (160000, False),
}


def _run(fn, x, scale):
    y = np.asarray(fn(x), dtype=np.float32)
    expected = (x.shape[0], x.shape[1] * scale, x.shape[2] * scale)
    if y.ndim != 4 or y.shape[:3] != expected:
        raise InputError(
            f"The model turned an input of shape {x.shape} into {y.shape}; "
            f"expected {expected + (y.shape[-1],)} for scale {scale}"
        )
    return y


def _chop(fn, x, scale, shave, min_size, rounding):
    _, h, w, _ = x.shape
    h_half, w_half = h // 2, w // 2
    h_size, w_size = h_half + shave, w_half + shave
    if rounding:
        h_size += 4 - h_size % 4
        w_size += 8 - w_size % 8
    if h_size > h or w_size > w or (h_size == h and w_size == w):
        # The reference slices with a negative start (garbage) or recurses
        # forever here; the image is no larger than one crop: run it whole.
        return _run(fn, x, scale)
    crops = [
        x[:, 0:h_size, 0:w_size],
        x[:, 0:h_size, (w - w_size) : w],
        x[:, (h - h_size) : h, 0:w_size],
        x[:, (h - h_size) : h, (w - w_size) : w],
    ]
    if w_size * h_size < min_size:
        outputs = [_run(fn, crop, scale) for crop in crops]
    else:
        outputs = [_chop(fn, crop, scale, shave, min_size, rounding) for crop in crops]

    h, w = scale * h, scale * w
    h_half, w_half = scale * h_half, scale * w_half
    h_size, w_size = scale * h_size, scale * w_size
    out = np.empty((x.shape[0], h, w, outputs[0].shape[-1]), dtype=np.float32)
    out[:, 0:h_half, 0:w_half] = outputs[0][:, 0:h_half, 0:w_half]
    out[:, 0:h_half, w_half:w] = outputs[1][:, 0:h_half, (w_size - w + w_half) : w_size]
    out[:, h_half:h, 0:w_half] = outputs[2][:, (h_size - h + h_half) : h_size, 0:w_half]
    out[:, h_half:h, w_half:w] = outputs[3][
        :, (h_size - h + h_half) : h_size, (w_size - w + w_half) : w_size
    ]
    return out


def forward_chop(fn, images, scale, shave=10, min_size=None, variant="enlca"):
    """Run `fn` on four overlapping crops and stitch, as the reference `--chop`.

    Args:
        fn: callable taking an NHWC float32 batch in [0, 1] and returning the
            NHWC upscaled batch (a Keras model, a LiteRT runner...).
        images: `(N, H, W, C)` or `(H, W, C)` float array.
        scale: the integer upscaling factor of `fn`.
        shave: context rows/columns added to each half (reference: 10).
        min_size: crops with `h * w` at or above this are chopped again;
            `None` takes the variant's default (120000 or 160000).
        variant: `"enlca"` (also `"nlsn"`) or `"a2n"`, see the module
            docstring.

    Returns:
        The float32 output, with the same rank as `images`.

    Example:

    ```python
    sr = forward_chop(model, lr[None] / 255.0, scale=4)  # ENLCN/NLSN numbers
    sr = forward_chop(a2n, lr[None] / 255.0, scale=2, variant="a2n")
    ```
    """
    if variant not in CHOP_VARIANTS:
        raise InputError(
            f"Unknown chop variant {variant!r}; use one of {sorted(CHOP_VARIANTS)}"
        )
    default_min_size, rounding = CHOP_VARIANTS[variant]
    min_size = default_min_size if min_size is None else int(min_size)
    x = np.asarray(images, dtype=np.float32)
    squeeze = x.ndim == 3
    if squeeze:
        x = x[None]
    if x.ndim != 4:
        raise InputError(
            f"forward_chop expects NHWC or HWC images, got shape {x.shape}"
        )
    out = _chop(fn, x, int(scale), int(shave), min_size, rounding)
    return out[0] if squeeze else out
