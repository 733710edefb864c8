"""Upscale images of any size tile by tile, with seamless blending.

`TiledUpscaler` cuts the LR image into overlapping tiles (all of one shape,
so a fixed-shape LiteRT model can run them), runs `fn` on batches of tiles
and blends neighbouring outputs with linear ramps across the overlaps. The
blend weights are normalised per pixel, so any overlap pattern sums to one,
and a tile's output near an edge it shares with a neighbour (where it lacks
context) gets weight zero: the ramp runs across the middle half of each
overlap. A purely convolutional model whose receptive field reaches less
than `overlap / 4` LR pixels therefore gives exactly its whole-image output;
attention models get a smooth cross-fade instead of a seam.

Memory: tiles are processed one row of tiles at a time and finished output
rows are written straight into the (preallocated or given) output array, so
apart from the output itself the working memory is one batch of tiles plus a
float32 band of about `(tile + overlap) * scale` output rows. A 4000x3000
photo goes through with the same tile memory as a 200x200 one; pass
`dtype="uint8"` (or an `out=` array, e.g. a `np.memmap`) to keep the output
itself small.
"""

import math

import numpy as np

from keras_enlca.errors import InputError
from keras_enlca.utils.image_conventions import to_uint8

# LR pixels. The command lines (`eval --tile`, `upscale --tile`) share these
# and `tile_settings`. Smaller tiles leave the network too little context:
# the authors' A2N x3 on an 84x84 LR photo lost 0.06 dB PSNR-Y at tile 16
# (default overlap), 0.38 dB at 8, 2.0 dB at 4 and 4.2 dB at 2.
DEFAULT_TILE = 192
DEFAULT_OVERLAP = 32
MIN_TILE = 16


def warn_small_inputs(shapes):
    """One `InputWarning` for LR images below `MIN_TILE` on a side.

    The rule every command applies to its inputs (`upscale`, `eval`): such
    images are upscaled, but the network sees mostly padding, as in a tile
    below the minimum; the result is close to plain resizing.

    Args:
        shapes: `(path, (height, width))` pairs.
    """
    small = [(path, shape) for path, shape in shapes if min(shape) < MIN_TILE]
    if not small:
        return
    import warnings

    from keras_enlca.errors import InputWarning

    path, (height, width) = min(small, key=lambda item: min(item[1]))
    more = f" (and {len(small) - 1} more)" if len(small) > 1 else ""
    warnings.warn(
        f"{path} is {width}x{height} pixels{more}, below the {MIN_TILE}-pixel "
        "context the network needs; its result is close to plain resizing.",
        InputWarning,
        stacklevel=2,
    )


def _pair(value, name):
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise InputError(f"{name} must be an int or (height, width), got {value}")
        return int(value[0]), int(value[1])
    return int(value), int(value)


def tile_settings(
    tile,
    overlap=None,
    min_tile=MIN_TILE,
    tile_option="--tile",
    overlap_option="--overlap",
):
    """`(tile, overlap)` from a tile and overlap request: the one tiling rule.

    `eval --tile`, `upscale --tile` and `TiledUpscaler` all go through it:

    - `tile` None or 0: no tiling, `(None, None)`; an `overlap` given then
      is an error (it would be ignored);
    - a tile smaller than `min_tile` LR pixels is an error (such tiles
      leave the network almost no context and visibly ruin the result);
    - `overlap=None` picks `DEFAULT_OVERLAP`, reduced to fit small tiles
      (at most `(tile - 1) // 2`); an overlap the user gives must be >= 0
      and smaller than half the tile, or it is an error.

    Args:
        tile: None, 0, an int or `(height, width)` in LR pixels.
        overlap: None or LR pixels shared by neighbouring tiles.
        min_tile: smallest tile side accepted (1 for the fixed input
            size of an exported model: that is what the model takes).
        tile_option: how `tile` is named in messages.
        overlap_option: how `overlap` is named in messages.

    Returns:
        `((tile_height, tile_width), overlap)`, or `(None, None)`.

    Raises:
        InputError: one line naming the option.

    Example:

    ```python
    tile_settings(64)  # ((64, 64), 31)
    tile_settings(256, 24)  # ((256, 256), 24)
    ```
    """
    if tile is None or (not isinstance(tile, (tuple, list)) and int(tile) == 0):
        if overlap is not None:
            raise InputError(f"{overlap_option} is only used with {tile_option}.")
        return None, None
    pair = _pair(tile, tile_option)
    shown = "x".join(map(str, pair)) if pair[0] != pair[1] else str(pair[0])
    if min(pair) < min_tile:
        raise InputError(
            f"{tile_option} {shown}: tiles must be at least {min_tile} LR pixels "
            "(0 upscales the whole image at once)."
        )
    if overlap is None:
        return pair, min(DEFAULT_OVERLAP, (min(pair) - 1) // 2)
    overlap = int(overlap)
    if overlap < 0 or 2 * overlap >= min(pair):
        raise InputError(
            f"{overlap_option} {overlap}: must be >= 0 and smaller than half the tile "
            f"({tile_option} {shown})."
        )
    return pair, overlap


def tile_starts(length, tile, overlap):
    """Start offsets of tiles of size `tile` covering `length` pixels.

    Tiles overlap by at least `overlap` pixels and are spread evenly, the
    last one ending at `length`. A `length` not larger than `tile` gets one
    tile.
    """
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    count = max(count, 2)
    return [int(round(v)) for v in np.linspace(0, length - tile, count)]


def ramp_weights(size, overlap, ramp_start, ramp_end):
    """1-D blend weights of one tile's output (length `size`).

    Edges shared with a neighbour (`ramp_start`/`ramp_end` true) rise from 0
    to 1 across the middle half of the `overlap` (in output pixels): zero for
    the first quarter, linear over the next half.
    """
    weights = np.ones(size, dtype=np.float64)
    if overlap <= 0:
        return weights
    margin = overlap / 4.0
    width = overlap / 2.0
    centers = np.arange(size, dtype=np.float64) + 0.5
    if ramp_start:
        weights *= np.clip((centers - margin) / width, 0.0, 1.0)
    if ramp_end:
        weights *= np.clip((size - centers - margin) / width, 0.0, 1.0)
    return weights


def _axis_plan(length, tile, overlap, scale):
    """Tiles along one axis: starts, the tile length used, normalised weights."""
    size = min(tile, length)
    starts = tile_starts(length, size, overlap)
    out_size = size * scale
    weights = []
    total = np.zeros(length * scale, dtype=np.float64)
    for i, start in enumerate(starts):
        w = ramp_weights(out_size, overlap * scale, i > 0, i < len(starts) - 1)
        weights.append(w)
        total[start * scale : start * scale + out_size] += w
    if np.any(total <= 0):
        raise InputError(
            f"Tiling {length} pixels with tile {tile} and overlap {overlap} leaves "
            "pixels without weight; use a larger tile or a smaller overlap"
        )
    normalised = [
        (w / total[s * scale : s * scale + out_size]).astype(np.float32)
        for s, w in zip(starts, weights)
    ]
    return starts, size, normalised


class TiledUpscaler:
    """Upscale images of any size through `fn`, tile by tile, seam-free.

    Args:
        fn: callable taking an NHWC float32 batch in [0, 1] of shape
            `(b, tile_h, tile_w, C)` and returning `(b, tile_h * scale,
            tile_w * scale, C_out)`: a Keras model, a LiteRT runner, or a
            `forward_chop`/`self_ensemble` wrapper.
        scale: integer upscaling factor of `fn`.
        tile: LR tile size, an int or `(height, width)`. Images smaller than
            the tile along an axis use one tile of the image's size there
            (or are padded, see `fixed_tile_shape`).
        overlap: LR pixels shared by neighbouring tiles (at least; tiles are
            spread evenly). Must be smaller than half the tile.
        batch_size: tiles per call of `fn`.
        fixed_tile_shape: always call `fn` with exactly `tile`-shaped inputs,
            padding (mirror) an image smaller than the tile and cropping the
            output; for fixed-shape TFLite models.
        dtype: dtype of the output array when `out` is not given: "float32"
            (values as `fn` returns them) or "uint8" (clamped, rounded).
        progress: optional callable `progress(done, total)`, called with
            the number of tiles finished so far after each call of `fn`.

    Call arguments:
        image: `(H, W, C)` or `(1, H, W, C)`; `uint8` or float in [0, 1].
        out: optional preallocated `(H * scale, W * scale, C_out)` array
            (float or `uint8`) to write into, e.g. a `np.memmap`.

    Example:

    ```python
    upscaler = TiledUpscaler(model, scale=4, tile=128, overlap=16)
    sr = upscaler(read_image("photo.jpg"))  # float32 (4H, 4W, 3)
    ```
    """

    def __init__(
        self,
        fn,
        scale,
        tile=DEFAULT_TILE,
        overlap=DEFAULT_OVERLAP,
        batch_size=1,
        fixed_tile_shape=False,
        dtype="float32",
        progress=None,
    ):
        self.fn = fn
        self.progress = progress
        self.scale = int(scale)
        if tile is None or (not isinstance(tile, (tuple, list)) and int(tile) < 1):
            raise InputError(f"tile must be >= 1, got {tile}")
        self.tile, self.overlap = tile_settings(
            tile, overlap, min_tile=1, tile_option="tile", overlap_option="overlap"
        )
        self.batch_size = int(batch_size)
        self.fixed_tile_shape = bool(fixed_tile_shape)
        self.dtype = np.dtype(dtype)
        if self.scale < 1:
            raise InputError(f"scale must be >= 1, got {scale}")
        if self.batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        if self.dtype not in (np.float32, np.float64, np.uint8):
            raise InputError(f"dtype must be float32, float64 or uint8, got {dtype}")
        # The largest input `fn` has received (a memory witness for tests).
        self.max_input_shape = None

    def plan(self, height, width):
        """The tiles for an image: a list of `(y, x, tile_h, tile_w)` in LR pixels."""
        ys, th, _ = _axis_plan(height, self.tile[0], self.overlap, self.scale)
        xs, tw, _ = _axis_plan(width, self.tile[1], self.overlap, self.scale)
        return [(y, x, th, tw) for y in ys for x in xs]

    def _tile_input(self, image, y, x, th, tw):
        crop = image[y : y + th, x : x + tw]
        if crop.dtype == np.uint8:
            crop = crop.astype(np.float32) / np.float32(255.0)
        else:
            crop = crop.astype(np.float32, copy=False)
        pad_h = self.tile[0] - th if self.fixed_tile_shape else 0
        pad_w = self.tile[1] - tw if self.fixed_tile_shape else 0
        if pad_h > 0 or pad_w > 0:
            crop = np.pad(
                crop, ((0, max(pad_h, 0)), (0, max(pad_w, 0)), (0, 0)), mode="symmetric"
            )
        return crop

    def _run(self, batch, th, tw):
        x = np.stack(batch)
        if self.max_input_shape is None or x.size > int(np.prod(self.max_input_shape)):
            self.max_input_shape = x.shape
        y = np.asarray(self.fn(x), dtype=np.float32)
        if not y.flags.writeable:  # the blend weights are applied in place
            y = y.copy()
        expected = (x.shape[0], x.shape[1] * self.scale, x.shape[2] * self.scale)
        if y.ndim != 4 or y.shape[:3] != expected:
            raise InputError(
                f"The model turned a tile of shape {x.shape} into {y.shape}; "
                f"expected {expected + (y.shape[-1],)} for scale {self.scale}"
            )
        return y[:, : th * self.scale, : tw * self.scale]

    def _flush(self, out, band, band_start, stop):
        # In chunks of rows, so temporaries stay small.
        for first in range(band_start, stop, 16):
            last = min(first + 16, stop)
            rows = band[first - band_start : last - band_start]
            if out.dtype == np.uint8:
                out[first:last] = to_uint8(rows)
            else:
                out[first:last] = rows

    def __call__(self, image, out=None):
        array = np.asarray(image)
        batched = array.ndim == 4
        if batched:
            if array.shape[0] != 1:
                raise InputError(
                    "TiledUpscaler takes one image at a time, got a batch of "
                    f"{array.shape[0]}"
                )
            array = array[0]
        if array.ndim != 3:
            raise InputError(
                f"Expected an (H, W, C) image, got shape {np.shape(image)}"
            )
        height, width = array.shape[:2]
        s = self.scale
        ys, th, wy = _axis_plan(height, self.tile[0], self.overlap, s)
        xs, tw, wx = _axis_plan(width, self.tile[1], self.overlap, s)
        out_h, out_w = height * s, width * s

        # float32 accumulator for output rows [band_start, band_start + len):
        # one row of tiles plus the rows carried over from the previous one.
        band = None
        band_start = 0
        finished, total = 0, len(ys) * len(xs)
        for row, y in enumerate(ys):
            pending = []
            for col, x in enumerate(xs):
                pending.append((col, x))
                if len(pending) < self.batch_size and col < len(xs) - 1:
                    continue
                batch = [self._tile_input(array, y, px, th, tw) for _, px in pending]
                outputs = self._run(batch, th, tw)
                finished += len(batch)
                if self.progress is not None:
                    self.progress(finished, total)
                if band is None:
                    channels = outputs.shape[-1]
                    carry_max = max([a + th - b for a, b in zip(ys, ys[1:])] + [0])
                    band = np.zeros(((th + carry_max) * s, out_w, channels), np.float32)
                    if out is None:
                        out = np.empty((out_h, out_w, channels), dtype=self.dtype)
                    elif out.shape != (out_h, out_w, channels):
                        raise InputError(
                            f"out has shape {out.shape}, expected "
                            f"{(out_h, out_w, channels)}"
                        )
                top = y * s - band_start
                for (pcol, px), tile_out in zip(pending, outputs):
                    tile_out *= wy[row][:, None, None]
                    tile_out *= wx[pcol][None, :, None]
                    band[top : top + th * s, px * s : (px + tw) * s] += tile_out
                pending = []
            # Rows above the next row of tiles are final: write them out and
            # move the unfinished rows to the top of the band.
            done = ys[row + 1] * s if row + 1 < len(ys) else out_h
            self._flush(out, band, band_start, done)
            carry = (y + th) * s - done
            if carry > 0:
                band[:carry] = band[
                    done - band_start : done - band_start + carry
                ].copy()
            band[max(carry, 0) :] = 0.0
            band_start = done
        return out[None] if batched else out


def upscale_tiled(
    fn,
    image,
    scale,
    tile=DEFAULT_TILE,
    overlap=DEFAULT_OVERLAP,
    batch_size=1,
    fixed_tile_shape=False,
    dtype="float32",
    out=None,
    progress=None,
):
    """Upscale one image of any size with `fn`, tile by tile (see `TiledUpscaler`).

    Example:

    ```python
    sr = upscale_tiled(model, photo, scale=4, tile=128, overlap=16, dtype="uint8")
    ```
    """
    upscaler = TiledUpscaler(
        fn,
        scale,
        tile=tile,
        overlap=overlap,
        batch_size=batch_size,
        fixed_tile_shape=fixed_tile_shape,
        dtype=dtype,
        progress=progress,
    )
    return upscaler(image, out=out)
