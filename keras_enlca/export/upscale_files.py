"""Upscaling image files with any model runner (what `enlca upscale` runs)."""

import os

from keras_enlca.errors import InputError

DEFAULT_TILE = 192
DEFAULT_OVERLAP = 32


def plan_outputs(inputs, out_dir):
    """Pairs `(input image, output path)` for image files and folders.

    A file keeps its name in `out_dir`; the images directly inside a folder
    keep theirs too. Two inputs with the same name, or an output that would
    overwrite an input, are an `InputError` before anything runs.

    Args:
        inputs: image file and folder paths.
        out_dir: the output folder.

    Returns:
        A list of `(source, destination)` paths.
    """
    from keras_enlca.data.io import IMAGE_EXTENSIONS
    from keras_enlca.data.io import list_images

    out_dir = os.fspath(out_dir)
    if os.path.isfile(out_dir):
        raise InputError(f"-o {out_dir}: is a file; give an output folder.")
    sources = []
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            found = list_images(item)
            if not found:
                raise InputError(f"{item}: the folder holds no images.")
            sources.extend(found)
        elif os.path.isfile(item):
            if os.path.splitext(item)[1].lower() not in IMAGE_EXTENSIONS:
                raise InputError(
                    f"{item}: not an image file this tool writes back "
                    f"({', '.join(IMAGE_EXTENSIONS)})."
                )
            sources.append(item)
        else:
            raise InputError(f"{item}: no such image file or folder.")
    if not sources:
        raise InputError("no input images given.")
    pairs, taken = [], {}
    for source in sources:
        destination = os.path.join(out_dir, os.path.basename(source))
        key = os.path.normcase(os.path.abspath(destination))
        if key in taken:
            raise InputError(
                f"{source} and {taken[key]} would both be written to {destination}; "
                "upscale them into different folders."
            )
        if key == os.path.normcase(os.path.abspath(source)):
            raise InputError(
                f"{source}: the output would overwrite the input; choose another -o folder."
            )
        taken[key] = source
        pairs.append((source, destination))
    return pairs


def tiling_for(runner, tile=None, overlap=None):
    """`(tile, overlap, fixed_tile_shape)` for a runner and the user's request.

    `tile=None` picks 192 (LR pixels), `tile=0` means no tiling (the whole
    image in one call). A model with a fixed input size is always tiled
    with exactly that size; asking for another `tile` is an `InputError`.
    `overlap=None` picks 32, reduced for small tiles.
    """
    if runner.input_size is not None:
        if tile is not None and (tile, tile) != tuple(runner.input_size):
            raise InputError(
                f"{runner.path}: takes fixed {runner.input_size[0]}x{runner.input_size[1]} "
                f"inputs (exported with --tile), so --tile {tile} cannot be used."
            )
        tile = tuple(runner.input_size)
    elif tile == 0:
        return None, 0, False
    else:
        tile = int(DEFAULT_TILE if tile is None else tile)
        if tile < 1:
            raise InputError(f"--tile must be positive (or 0 for no tiling), got {tile}.")
        tile = (tile, tile)
    if overlap is None:
        overlap = min(DEFAULT_OVERLAP, (min(tile) - 1) // 2)
    overlap = int(overlap)
    if overlap < 0 or 2 * overlap >= min(tile):
        raise InputError(
            f"--overlap must be >= 0 and less than half the tile ({min(tile)}), got {overlap}."
        )
    return tile, overlap, runner.input_size is not None


def upscale_file(runner, source, destination, tile=None, overlap=None):
    """Reads `source`, upscales it with `runner`, writes `destination` atomically.

    Images larger than `tile` (LR pixels, see `tiling_for`) go through
    `keras_enlca.evaluation.upscale_tiled`, so memory stays bounded by the
    tile size whatever the image size; the output is accumulated as uint8.

    Returns:
        The `(height, width)` of the written image.
    """
    from keras_enlca.data.io import read_image
    from keras_enlca.data.io import write_image
    from keras_enlca.evaluation.tiling import upscale_tiled

    image = read_image(source)
    tile, overlap, fixed = tiling_for(runner, tile, overlap)
    if tile is None:
        tile = image.shape[:2]
    sr = upscale_tiled(
        runner, image, runner.scale, tile=tile, overlap=overlap,
        fixed_tile_shape=fixed, dtype="uint8",
    )
    write_image(destination, sr)
    return sr.shape[:2]
