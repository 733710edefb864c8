"""Upscaling image files with any model runner (what `enlca upscale` runs)."""

import os

from keras_enlca.errors import InputError
from keras_enlca.inference.tiling import DEFAULT_TILE
from keras_enlca.inference.tiling import tile_settings
from keras_enlca.inference.tiling import warn_small_inputs
from keras_enlca.utils.outputs import check_output_files
from keras_enlca.utils.outputs import distinct_destinations


def plan_outputs(inputs, out_dir, overwrite=False, recursive=False):
    """Pairs `(input image, output path)` for image files and folders.

    A file keeps its name in `out_dir`; the images directly inside a folder
    keep theirs too. Before anything runs, each input's header is read (a
    file that is no image is an `InputError` naming it), and two inputs
    with the same name, an output that would overwrite an input, an output
    that exists already (unless `overwrite`) or an output folder that cannot
    be written are an `InputError`. Other files in `out_dir` are never
    touched.

    Args:
        inputs: image file and folder paths.
        out_dir: the output folder (created when the first image is written).
        overwrite: replace existing outputs of the same names.
        recursive: take the images in the subfolders of folder inputs too
            (written under the same relative paths in `out_dir`); without
            it, skipped subfolders and non-image files are counted in one
            `InputWarning`.

    Returns:
        A list of `(source, destination)` paths.
    """
    from keras_enlca.data.io import IMAGE_EXTENSIONS
    from keras_enlca.data.io import image_shape
    from keras_enlca.data.io import scan_images
    from keras_enlca.data.io import warn_lossy_reads
    from keras_enlca.data.io import warn_skipped

    out_dir = os.fspath(out_dir)
    if os.path.isfile(out_dir):
        raise InputError(f"-o {out_dir}: is a file; give an output folder.")
    sources = []
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            found, folders, files = scan_images(item, recursive=recursive)
            if not found:
                more = " (pass --recursive to search its subfolders)" if folders else ""
                raise InputError(f"{item}: the folder holds no images{more}.")
            warn_skipped(item, folders, files, "--recursive")
            sources.extend((path, os.path.relpath(path, item)) for path in found)
        elif os.path.isfile(item):
            if os.path.splitext(item)[1].lower() not in IMAGE_EXTENSIONS:
                raise InputError(
                    f"{item}: not an image file this tool writes back "
                    f"({', '.join(IMAGE_EXTENSIONS)})."
                )
            sources.append((item, os.path.basename(item)))
        else:
            raise InputError(f"{item}: no such image file or folder.")
    if not sources:
        raise InputError("no input images given.")
    destinations = distinct_destinations(sources, out_dir)
    pairs = [(source, path) for (source, _), path in zip(sources, destinations)]
    warn_small_inputs([(source, image_shape(source)) for source, _ in pairs])
    warn_lossy_reads([source for source, _ in pairs])
    check_output_files([d for _, d in pairs], overwrite=overwrite)
    return pairs


def tiling_for(runner, tile=None, overlap=None):
    """`(tile, overlap, fixed_tile_shape)` for a runner and the user's request.

    `tile=None` picks `DEFAULT_TILE` (LR pixels), `tile=0` means no tiling
    (the whole image in one call). A model with a fixed input size is always
    tiled with exactly that size; asking for another `tile` is an
    `InputError`. The rest is `keras_enlca.inference.tiling.tile_settings`, the
    rule `enlca eval --tile` follows too (minimum tile, default overlap
    fitted to the tile).
    """
    if runner.input_size is not None:
        if tile is not None and (tile, tile) != tuple(runner.input_size):
            raise InputError(
                f"{runner.path}: takes fixed "
                f"{runner.input_size[0]}x{runner.input_size[1]} inputs (exported with "
                f"--input-size), so --tile {tile} cannot be used."
            )
        pair, overlap = tile_settings(runner.input_size, overlap, min_tile=1)
        return pair, overlap, True
    pair, overlap = tile_settings(DEFAULT_TILE if tile is None else tile, overlap)
    if pair is None:
        return None, 0, False
    return pair, overlap, False


def upscale_file(runner, source, destination, tile=None, overlap=None, progress=None):
    """Reads `source`, upscales it with `runner`, writes `destination` atomically.

    Images larger than `tile` (LR pixels, see `tiling_for`) go through
    `keras_enlca.inference.upscale_tiled`, so memory stays bounded by the
    tile size whatever the image size; the output is accumulated as uint8.
    `progress(done, total)` is called after each tile (see `TiledUpscaler`).

    Returns:
        The `(height, width)` of the written image.
    """
    from keras_enlca.data.io import read_image
    from keras_enlca.data.io import write_image

    sr = upscale_image(
        runner, read_image(source), tile=tile, overlap=overlap, progress=progress
    )
    write_image(destination, sr)
    return sr.shape[:2]


def upscale_image(runner, image, tile=None, overlap=None, progress=None):
    """The uint8 `(H*s, W*s, 3)` upscale of a uint8 image, as `upscale_file` makes it.

    The one rule for how an image file is upscaled (tiling from `tiling_for`,
    uint8 accumulation): `upscale_file` and the Ray workers
    (`keras_enlca.inference.ray_upscale`) both call it, so both give the
    same pixels.
    """
    from keras_enlca.inference.tiling import upscale_tiled

    tile, overlap, fixed = tiling_for(runner, tile, overlap)
    if tile is None:
        tile = image.shape[:2]
    return upscale_tiled(
        runner,
        image,
        runner.scale,
        tile=tile,
        overlap=overlap,
        fixed_tile_shape=fixed,
        dtype="uint8",
        progress=progress,
    )
