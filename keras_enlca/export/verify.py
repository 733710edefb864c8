"""Measure an exported model against its Keras source and the ground truth."""

import os

import numpy as np

from keras_enlca.errors import InputError
from keras_enlca.inference.tiling import DEFAULT_OVERLAP
from keras_enlca.inference.tiling import DEFAULT_TILE
from keras_enlca.inference.tiling import upscale_tiled


def _tiled(runner, lr, scale, tile, overlap, fixed):
    overlap = min(int(overlap), (min(tile) - 1) // 2)
    return upscale_tiled(
        runner,
        lr,
        scale,
        tile=tile,
        overlap=overlap,
        fixed_tile_shape=fixed,
        dtype="uint8",
    )


def verify_artifact(
    artifact,
    reference,
    hr_source,
    scale=None,
    tile=DEFAULT_TILE,
    overlap=DEFAULT_OVERLAP,
    max_images=None,
):
    """PSNR-Y of an exported model vs its Keras model and vs the ground truth.

    Each HR image is cropped to a multiple of the scale (`modcrop`) and
    downscaled with MATLAB's bicubic (`keras_enlca.data.imresize`), as the
    benchmark LR sets are made. The LR image is upscaled by the artifact and
    by the reference Keras model through the same tiler plan (the artifact's
    fixed input size when it has one, else `tile`), and both results are
    rounded to 8 bits. PSNR is on MATLAB's Y channel with `scale` border
    pixels shaved (`keras_enlca.evaluation.psnr`).

    Args:
        artifact: a `ModelRunner` for the exported model.
        reference: a `ModelRunner` for the Keras model (`KerasRunner`).
        hr_source: a folder of HR images (or a list of files).
        scale: expected scale (defaults to the artifact's); a mismatch with
            either model is an `InputError`.
        tile: LR tile size for images larger than it.
        overlap: LR overlap between tiles.
        max_images: use at most this many images (sorted by name).

    Returns:
        A dict with `images` (the count), the means `psnr_y_vs_keras`,
        `psnr_y_artifact_vs_hr`, `psnr_y_keras_vs_hr`, `psnr_y_bicubic_vs_hr`,
        `psnr_y_drop` (Keras minus artifact, against HR), and `per_image`.

    Example:

    ```python
    result = verify_artifact(
        LiteRTRunner("m.tflite"), KerasRunner("m.keras"), "Set5/HR"
    )
    print(result["psnr_y_vs_keras"], result["psnr_y_drop"])
    ```
    """
    from keras_enlca.data.bicubic import bicubic_downscale
    from keras_enlca.data.bicubic import bicubic_upscale
    from keras_enlca.data.io import list_images
    from keras_enlca.data.io import read_image
    from keras_enlca.evaluation.metrics import psnr

    scale = int(scale or artifact.scale)
    artifact.check_scale(scale)
    reference.check_scale(scale)
    if isinstance(hr_source, (list, tuple)):
        paths = [os.fspath(p) for p in hr_source]
    else:
        hr_source = os.fspath(hr_source)
        if os.path.isfile(hr_source):
            paths = [hr_source]
        else:
            paths = list_images(hr_source)
    if max_images is not None:
        paths = paths[: int(max_images)]
    if not paths:
        raise InputError(f"--verify {hr_source}: the folder holds no images.")
    fixed = artifact.input_size is not None
    if fixed:
        tile = tuple(artifact.input_size)
    elif isinstance(tile, int):
        tile = (tile, tile)
    per_image = []
    for path in paths:
        hr = read_image(path)
        if min(hr.shape[:2]) < 2 * scale + 1 or min(hr.shape[:2]) // scale < 4:
            raise InputError(
                f"{path}: too small ({hr.shape[1]}x{hr.shape[0]}) to verify x{scale}."
            )
        lr, hr = bicubic_downscale(hr, scale)
        sr_artifact = _tiled(artifact, lr, scale, tile, overlap, fixed)
        sr_keras = _tiled(reference, lr, scale, tile, overlap, fixed)
        bicubic = bicubic_upscale(lr, scale)
        per_image.append(
            {
                "image": os.path.basename(path),
                "psnr_y_vs_keras": psnr(sr_artifact, sr_keras, shave=scale),
                "psnr_y_artifact_vs_hr": psnr(sr_artifact, hr, shave=scale),
                "psnr_y_keras_vs_hr": psnr(sr_keras, hr, shave=scale),
                "psnr_y_bicubic_vs_hr": psnr(bicubic, hr, shave=scale),
            }
        )

    def mean(key):
        values = [row[key] for row in per_image]
        # Identical outputs give inf; report them as 100 dB in the mean.
        return float(np.mean([min(v, 100.0) for v in values]))

    result = {
        "images": len(per_image),
        "hr_source": os.path.abspath(hr_source) if isinstance(hr_source, str) else None,
        "scale": scale,
        "tile": list(tile),
        "psnr_y_vs_keras": mean("psnr_y_vs_keras"),
        "psnr_y_artifact_vs_hr": mean("psnr_y_artifact_vs_hr"),
        "psnr_y_keras_vs_hr": mean("psnr_y_keras_vs_hr"),
        "psnr_y_bicubic_vs_hr": mean("psnr_y_bicubic_vs_hr"),
    }
    result["psnr_y_drop"] = (
        result["psnr_y_keras_vs_hr"] - result["psnr_y_artifact_vs_hr"]
    )
    result["per_image"] = per_image
    return result


def check_drop(result, max_drop, path):
    """Raises `VerificationError` when `result`'s drop exceeds `max_drop`.

    `result` is a `verify_artifact` dict; `max_drop` None checks nothing.
    """
    from keras_enlca.export.verification_error import VerificationError

    if max_drop is None or result["psnr_y_drop"] <= float(max_drop):
        return
    raise VerificationError(
        path, result["psnr_y_drop"], float(max_drop), result["images"]
    )
