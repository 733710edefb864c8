"""Calibration data for int8 TFLite: random crops of a folder of images."""

import os

import numpy as np

from keras_enlca.errors import InputError

DEFAULT_NUM_CROPS = 32
DEFAULT_CROP_SIZE = 64


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
            paths = list_images(source)
        else:
            raise InputError(f"--calibration {source}: no such folder or image file.")
    if not paths:
        raise InputError(f"--calibration {source}: the folder holds no images.")
    return paths


def calibration_crops(
    source=None,
    num_crops=DEFAULT_NUM_CROPS,
    crop_size=DEFAULT_CROP_SIZE,
    seed=0,
):
    """Random uint8 crops of calibration images, as `(1, h, w, 3)` arrays.

    The crops are what the int8 quantiser runs the float model on to choose
    each activation's range, so they should look like the images the model
    will upscale (the LR inputs, not HR ground truth). The crops cycle over
    the images (each image gives `num_crops / len(images)` crops at random
    positions); images smaller than `crop_size` are used whole.

    Args:
        source: a folder of images, an image file or a list of files; None
            for the bundled sample photographs.
        num_crops: number of crops.
        crop_size: int or `(height, width)` of each crop (the `--tile` of a
            fixed-shape export; smaller images are mirror-padded to it then).
        seed: seed of the crop positions.

    Returns:
        A list of `num_crops` uint8 arrays of shape `(1, h, w, 3)`.
    """
    from keras_enlca.data.io import read_image

    if source is None:
        source = default_calibration_dir()
    paths = calibration_image_paths(source)
    if isinstance(crop_size, int):
        crop_size = (crop_size, crop_size)
    crop_h, crop_w = (int(c) for c in crop_size)
    rng = np.random.default_rng(seed)
    images = [read_image(path) for path in paths]
    crops = []
    for i in range(int(num_crops)):
        image = images[i % len(images)]
        height, width = image.shape[:2]
        y = int(rng.integers(0, max(height - crop_h, 0) + 1))
        x = int(rng.integers(0, max(width - crop_w, 0) + 1))
        crop = image[y : y + crop_h, x : x + crop_w]
        crops.append(np.ascontiguousarray(crop[None]))
    return crops


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
