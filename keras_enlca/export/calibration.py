"""Calibration data for integer TFLite: random crops of a folder of images.

Two sets come from the same folder:

- `calibration_crops`: crops of the images as they are, at several sizes
  (`DEFAULT_CROP_SIZES`), which the quantiser runs the float model on to
  record every activation's range. Several sizes, because a range is a
  min and a max: a model sees its extremes at strong edges and at borders
  (where "same" padding acts), and more so in small crops.
- `selection_pairs`: HR crops and their MATLAB-bicubic LR, on which
  `float_fallback` measures the PSNR-Y drop of each candidate model.

`DEFAULT_NUM_CROPS` comes from the measured curve in README "Measured"
(int8 drop vs number of crops, the authors' A2N x3 on the bundled photos:
0.095, 0.113, 0.094, 0.120, 0.133, 0.087 dB for 2 ... 64 crops, flat within
the +-0.02 dB of noise: min/max ranges settle within a few crops of
varied sizes). 32 costs about a minute of calibration there.
"""

import os

import numpy as np

from keras_enlca.errors import InputError
from keras_enlca.inference.tiling import MIN_TILE

DEFAULT_NUM_CROPS = 32
DEFAULT_CROP_SIZE = 64
# The sizes the calibration crops cycle through (LR pixels).
DEFAULT_CROP_SIZES = [48, 64, 96]
# A fixed-shape export calibrates on at least this many tile-sized crops.
MIN_TILE_CROPS = 4
# Calibration images must be at least this large (both sides): the smallest
# tile the upscaler runs (`keras_enlca.inference.tiling.MIN_TILE`).
MIN_CALIBRATION_SIZE = MIN_TILE
# Selection pairs: count and LR crop size.
DEFAULT_NUM_PAIRS = 12
DEFAULT_PAIR_SIZE = 64


def default_calibration_dir():
    """The bundled sample photographs (`keras_enlca.data` sample images)."""
    from keras_enlca.data import sample_images_dir

    return sample_images_dir()


def calibration_image_paths(source):
    """Image files of `source`: a folder, one image file or a list of them."""
    from keras_enlca.data.io import list_images

    if isinstance(source, (list, tuple)):
        paths = [os.fspath(p) for p in source]
    else:
        source = os.fspath(source)
        if os.path.isfile(source):
            paths = [source]
        elif os.path.isdir(source):
            try:
                paths = list_images(source)
            except OSError as error:
                raise InputError(
                    f"--calibration {source}: cannot list the folder "
                    f"({error.strerror or error})."
                ) from None
        else:
            raise InputError(f"--calibration {source}: no such folder or image file.")
    if not paths:
        raise InputError(f"--calibration {source}: the folder holds no images.")
    _check_sizes(paths)
    return paths


def _check_sizes(paths):
    """Refuses images smaller than `MIN_CALIBRATION_SIZE` (one line, the
    smallest named): their ranges would not be a photograph's."""
    from keras_enlca.data.io import image_shape

    small = []
    for path in paths:
        try:
            shape = image_shape(path)
        except InputError as error:
            raise InputError(f"--calibration: {error}") from None
        if min(shape) < MIN_CALIBRATION_SIZE:
            small.append((min(shape), shape, path))
    if small:
        _, (height, width), path = min(small)
        others = f" (and {len(small) - 1} more)" if len(small) > 1 else ""
        raise InputError(
            f"--calibration: {path} is {width}x{height} pixels{others}, smaller "
            f"than the {MIN_CALIBRATION_SIZE}x{MIN_CALIBRATION_SIZE} that "
            "calibration needs; calibrate on photos like those the model will "
            "upscale."
        )


def read_calibration_images(source):
    """The uint8 images of `source`; an unreadable one is a one-line error."""
    from keras_enlca.data.io import read_image

    images = []
    for path in calibration_image_paths(source):
        try:
            images.append(read_image(path))
        except InputError as error:
            raise InputError(f"--calibration: {error}") from None
    return images


def crop_sizes(crop_size):
    """`[(height, width), ...]` from an int, a `(height, width)` tuple or a list.

    A list (or a tuple of other than two ints) holds sizes to cycle
    through, each an int (square) or `(height, width)`.
    """

    def one(size):
        if isinstance(size, (int, np.integer)):
            return int(size), int(size)
        height, width = size
        return int(height), int(width)

    if isinstance(crop_size, (int, np.integer)):
        return [one(crop_size)]
    if (
        isinstance(crop_size, tuple)
        and len(crop_size) == 2
        and all(isinstance(c, (int, np.integer)) for c in crop_size)
    ):
        return [one(crop_size)]
    return [one(size) for size in crop_size]


def tile_crop_count(num_crops, tile, crop_size=DEFAULT_CROP_SIZES):
    """How many crops a fixed-shape (`tile`) export calibrates on.

    A fixed-shape model runs at its tile size only, so its calibration
    crops are tile-sized, and calibration and the MSE range pass
    (`activation_ranges`) cost time in proportion to the pixels run: 32
    crops of a 128x128 tile are 3.05x the pixels of 32 crops cycling
    through 48, 64 and 96 (what made a fixed-shape int8 export of
    `enlcn_small_x2` take 2 min 48 s against 54 s). The count is the
    number of tile-sized crops holding the pixels of `num_crops` crops of
    `crop_size`, at least `MIN_TILE_CROPS` and at most `num_crops`.

    Args:
        num_crops: the crop count asked for (`--calibration-crops`).
        tile: `(height, width)` of the fixed input.
        crop_size: the sizes whose pixels set the budget (see `crop_sizes`).
    """
    sizes = crop_sizes(crop_size)
    pixels = [sizes[i % len(sizes)] for i in range(int(num_crops))]
    budget = sum(height * width for height, width in pixels)
    count = -(-budget // (int(tile[0]) * int(tile[1])))
    return int(min(int(num_crops), max(MIN_TILE_CROPS, count)))


def calibration_crops(
    source=None,
    num_crops=DEFAULT_NUM_CROPS,
    crop_size=DEFAULT_CROP_SIZES,
    seed=0,
    images=None,
):
    """Random uint8 crops of calibration images, as `(1, h, w, 3)` arrays.

    The crops are what the integer quantiser runs the float model on to
    choose each activation's range, so they should look like the images
    the model will upscale (the user's own pictures). The crops cycle over
    the images and over the sizes (crop `i` comes from image `i % images`
    at size `i % sizes`, at a random position); images smaller than a
    crop are used whole (`used_crop_sizes` tells the sizes really used).

    Args:
        source: a folder of images, an image file or a list of files; None
            for the bundled sample photographs.
        num_crops: number of crops.
        crop_size: int, `(height, width)` tuple, or a list of sizes to
            cycle through (see `crop_sizes`; default `DEFAULT_CROP_SIZES`;
            a fixed-shape export passes its `--tile`).
        seed: seed of the crop positions.
        images: already read uint8 images (then `source` is not read).

    Returns:
        A list of `num_crops` uint8 arrays of shape `(1, h, w, 3)`.
    """
    if images is None:
        images = read_calibration_images(
            source if source is not None else default_calibration_dir()
        )
    sizes = crop_sizes(crop_size)
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(int(num_crops)):
        image = images[i % len(images)]
        crop_h, crop_w = sizes[i % len(sizes)]
        height, width = image.shape[:2]
        y = int(rng.integers(0, max(height - crop_h, 0) + 1))
        x = int(rng.integers(0, max(width - crop_w, 0) + 1))
        crop = image[y : y + crop_h, x : x + crop_w]
        crops.append(np.ascontiguousarray(crop[None]))
    return crops


def used_crop_sizes(crops, tile=None):
    """The `(height, width)` sizes the quantiser really saw, sorted: `tile`
    for a fixed-shape export, else those of `crops`."""
    if tile is not None:
        return [tuple(int(v) for v in tile)]
    return sorted({(int(c.shape[1]), int(c.shape[2])) for c in crops})


def fit_to(crop, size):
    """A `(1, h, w, 3)` crop cut down and mirror-padded to `size = (height, width)`."""
    crop = crop[:, : size[0], : size[1]]
    pad_h = max(size[0] - crop.shape[1], 0)
    pad_w = max(size[1] - crop.shape[2], 0)
    if pad_h or pad_w:
        crop = np.pad(crop, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")
    return crop


def representative_dataset(crops, size=None):
    """A `representative_dataset` callable for the TFLite converter.

    Args:
        crops: uint8 arrays `(1, h, w, 3)` (see `calibration_crops`).
        size: None for a dynamic-shape model, else the fixed `(height,
            width)`: crops are cut or mirror-padded to it.
    """

    def generator():
        for crop in crops:
            yield [fit_to(crop, size) if size is not None else crop]

    return generator


def selection_pairs(
    source=None,
    scale=2,
    num_pairs=DEFAULT_NUM_PAIRS,
    size=DEFAULT_PAIR_SIZE,
    seed=1,
    images=None,
):
    """`(lr, hr)` uint8 crop pairs from calibration images, to measure drops.

    HR crops of `size * scale` pixels (smaller images whole, cut to a
    multiple of `scale`), LR made by MATLAB's bicubic as for the benchmark
    sets; the same convention as `verify_artifact`.

    Returns:
        A list of `(lr (h, w, 3), hr (scale*h, scale*w, 3))` uint8 pairs.
    """
    from keras_enlca.data.bicubic import bicubic_downscale

    if images is None:
        images = read_calibration_images(
            source if source is not None else default_calibration_dir()
        )
    crops = calibration_crops(
        num_crops=num_pairs, crop_size=int(size) * int(scale), seed=seed, images=images
    )
    pairs = []
    for crop in crops:
        hr = crop[0]
        if min(hr.shape[:2]) // scale < 4:
            continue
        pairs.append(bicubic_downscale(hr, scale))
    if not pairs:
        raise InputError(f"--calibration: the images are too small for x{scale} pairs.")
    return pairs
