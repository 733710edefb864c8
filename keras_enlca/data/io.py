"""Reading and writing image files as 8-bit RGB arrays.

Every image that enters the library goes through `read_image`, which turns
whatever is on disk into a `uint8` array of shape `(H, W, 3)` in RGB order:

- grayscale (`L`, `1`, 16-bit `I;16`/`I`) is replicated to three channels;
- an alpha channel (`LA`, `RGBA`, palette transparency) is **dropped**: the
  colour values under the alpha are the image data a super-resolution model
  sees, which is also what the reference code does when it keeps the first
  three channels;
- palette, CMYK and YCbCr images are converted to RGB by Pillow;
- 16-bit PNGs (gray, gray+alpha, RGB, RGBA) are decoded at full depth and
  scaled to 8 bit with rounding, `round(v / 257)` (65535 -> 255, exact for
  images that were 8-bit once). Pillow alone would truncate to the high byte;
- the EXIF orientation tag (JPEG, also PNG/WebP/TIFF) is applied, so the
  array looks the way an image viewer shows the photo.

A missing, empty, corrupt or truncated file raises
`keras_enlca.errors.InputError` naming the file.
"""

import os

import numpy as np
from PIL import Image
from PIL import UnidentifiedImageError

from keras_enlca.errors import InputError
from keras_enlca.utils.atomic import atomic_path
from keras_enlca.utils.image_conventions import to_uint8

# Extensions `list_images` picks up (lower case, with the dot).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm")

# Pillow format names by extension, for `write_image`.
_WRITE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".ppm": "PPM",
}

_EXIF_ORIENTATION = 0x0112


def apply_exif_orientation(array, orientation):
    """Transform an `(H, W, ...)` array as EXIF `orientation` (1..8) says.

    The result is what a viewer displays; `orientation` 1 (or any unknown
    value) leaves the array as it is. Matches `PIL.ImageOps.exif_transpose`.
    """
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:
        return np.swapaxes(array, 0, 1)
    if orientation == 6:
        return np.rot90(array, k=-1)
    if orientation == 7:
        return np.swapaxes(array[::-1, ::-1], 0, 1)
    if orientation == 8:
        return np.rot90(array, k=1)
    return array


def _to_uint8_from_16(array):
    # round(v / 257): exact integer rounding, no float error.
    return ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _decode_png16(path):
    """Full-depth decode of a 16-bit PNG (Pillow keeps only the high byte)."""
    import tensorflow as tf

    with open(path, "rb") as f:
        data = f.read()
    array = tf.io.decode_png(data, channels=0, dtype=tf.uint16).numpy()
    return _to_uint8_from_16(array)


def _is_16bit_png(image):
    if image.format != "PNG" or not image.tile:
        return False
    rawmode = image.tile[0].args
    if isinstance(rawmode, tuple):
        rawmode = rawmode[0]
    return isinstance(rawmode, str) and rawmode.endswith(";16B")


def _pil_to_array(image):
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return _to_uint8_from_16(np.asarray(image))
    if mode == "I":
        array = np.asarray(image)
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise ValueError(f"32-bit integer pixels outside 0..65535 ({mode})")
        return _to_uint8_from_16(array)
    if mode == "F":
        raise ValueError("floating-point images are not supported")
    if mode == "RGB":
        return np.asarray(image)
    if mode in ("L", "1"):
        return np.asarray(image.convert("L"))
    if mode == "LA":
        return np.asarray(image)[..., 0]
    # RGBA, RGBa, P (with or without transparency), PA, CMYK, YCbCr, LAB, HSV.
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return np.asarray(image.convert("RGBA" if mode in ("PA", "RGBa") else "RGB"))


def _to_rgb(array):
    if array.ndim == 2:
        array = array[..., None]
    channels = array.shape[-1]
    if channels in (1, 2):  # gray, gray + alpha
        array = np.repeat(array[..., :1], 3, axis=-1)
    elif channels == 4:  # RGBA
        array = array[..., :3]
    return np.ascontiguousarray(array, dtype=np.uint8)


def read_image(path):
    """Read an image file as a `uint8` RGB array of shape `(H, W, 3)`.

    See the module docstring for how grayscale, alpha, palette, 16-bit and
    EXIF-rotated files are handled.

    Args:
        path: path of the image file (PNG, JPEG, BMP, TIFF, WebP, PPM...).

    Returns:
        A C-contiguous `np.uint8` array `(H, W, 3)`.

    Raises:
        InputError: the file is missing, is not an image, or is corrupt.

    Example:

    ```python
    hr = keras_enlca.data.read_image("Set5/HR/baby.png")
    hr.shape, hr.dtype  # ((512, 512, 3), dtype('uint8'))
    ```
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"Image not found: {path}")
    if os.path.isdir(path):
        raise InputError(f"Expected an image file but got a folder: {path}")
    try:
        with Image.open(path) as image:
            # Before `getexif()`, which loads a PNG and forgets its raw mode.
            is_16bit_png = _is_16bit_png(image)
            orientation = 1
            try:
                orientation = int(image.getexif().get(_EXIF_ORIENTATION, 1))
            except Exception:  # noqa: BLE001 - a broken EXIF block is not fatal
                orientation = 1
            array = None
            if not is_16bit_png:
                image.load()
                array = _pil_to_array(image)
        if is_16bit_png:
            array = _decode_png16(path)
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        reason = str(error) or type(error).__name__
        raise InputError(f"Cannot read image {path}: {reason}") from None
    except Exception as error:  # noqa: BLE001 - decoders raise many kinds
        raise InputError(
            f"Cannot read image {path}: {type(error).__name__}: {error}"
        ) from None
    array = _to_rgb(array)
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"Cannot read image {path}: it has no pixels")
    return np.ascontiguousarray(apply_exif_orientation(array, orientation))


def image_shape(path):
    """`(height, width)` of an image file as `read_image` would return it.

    Reads only the header (the EXIF orientation is taken into account), so it
    is cheap enough to size buffers before decoding.

    Raises:
        InputError: the file is missing or not an image.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"Image not found: {path}")
    try:
        with Image.open(path) as image:
            width, height = image.size
            try:
                orientation = int(image.getexif().get(_EXIF_ORIENTATION, 1))
            except Exception:  # noqa: BLE001
                orientation = 1
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        reason = str(error) or type(error).__name__
        raise InputError(f"Cannot read image {path}: {reason}") from None
    if orientation in (5, 6, 7, 8):
        height, width = width, height
    return height, width


def lossy_reads(paths):
    """`(with alpha, with more than 8 bits)`: the image files among `paths`
    whose alpha channel or extra precision `read_image` (8-bit RGB) drops."""
    alpha, deep = [], []
    for path in paths:
        try:
            with Image.open(os.fspath(path)) as image:
                mode, info = image.mode, image.info
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            continue
        if mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in info:
            alpha.append(path)
        if mode in ("I", "F") or mode.startswith("I;16"):
            deep.append(path)
    return alpha, deep


def warn_lossy_reads(paths):
    """One `InputWarning` line for each kind of loss `lossy_reads` finds."""
    import warnings

    from keras_enlca.errors import InputWarning

    alpha, deep = lossy_reads(paths)
    for found, what in (
        (alpha, "an alpha channel, which is dropped (results are RGB)"),
        (deep, "more than 8 bits per sample, which are rounded to 8"),
    ):
        if found:
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            warnings.warn(f"{found[0]}{more}: has {what}.", InputWarning, stacklevel=2)


def is_grayscale_file(path):
    """Whether an image file stores one gray channel (with or without alpha).

    `read_image` replicates such images to RGB; scoring uses this to compare
    two gray files on their gray levels, as MATLAB's scripts do.
    """
    path = os.fspath(path)
    try:
        with Image.open(path) as image:
            return image.mode in (
                "1",
                "L",
                "LA",
                "La",
                "I",
                "F",
            ) or image.mode.startswith("I;16")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        reason = str(error) or type(error).__name__
        raise InputError(f"Cannot read image {path}: {reason}") from None


def write_image(path, array, quality=95):
    """Write an RGB (or gray) image atomically; the format comes from the extension.

    Args:
        path: target path. Its extension (`.png`, `.jpg`, `.bmp`, `.tif`,
            `.webp`, `.ppm`) picks the format. Parent folders are created.
        array: `(H, W, 3)` or `(H, W)` image, `uint8`, or float in [0, 1]
            (clamped and rounded to `uint8`). A leading batch axis of size 1
            is accepted.
        quality: JPEG/WebP quality.

    Raises:
        InputError: unsupported extension or array shape.

    Example:

    ```python
    keras_enlca.data.write_image("out/baby_x4.png", sr)
    ```
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in _WRITE_FORMATS:
        raise InputError(
            f"Cannot write {path}: unsupported extension {ext or '(none)'}; "
            f"use one of {', '.join(sorted(_WRITE_FORMATS))}"
        )
    array = np.asarray(array)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] == 3)):
        raise InputError(
            f"Cannot write {path}: expected an (H, W, 3) or (H, W) image, "
            f"got shape {array.shape}"
        )
    image = Image.fromarray(np.ascontiguousarray(to_uint8(array)))
    options = {}
    if _WRITE_FORMATS[ext] in ("JPEG", "WEBP"):
        options["quality"] = quality
    with atomic_path(path) as tmp:
        image.save(tmp, format=_WRITE_FORMATS[ext], **options)
    return path


def scan_images(folder, recursive=False):
    """`(paths, skipped_folders, skipped_files)` of the images in `folder`.

    `paths`: sorted image files directly inside `folder` (and, with
    `recursive`, inside its subfolders, in walk order). Hidden names
    (starting with a dot) are ignored. `skipped_folders`: subfolders not
    searched (always 0 with `recursive`); `skipped_files`: files that are
    no image by their extension.

    Raises:
        InputError: `folder` does not exist or is not a folder.
    """
    folder = os.fspath(folder)
    if not os.path.exists(folder):
        raise InputError(f"Folder not found: {folder}")
    if not os.path.isdir(folder):
        raise InputError(f"Expected a folder but got a file: {folder}")
    paths, folders, files = [], 0, 0
    for name in sorted(os.listdir(folder)):
        if name.startswith("."):
            continue
        path = os.path.join(folder, name)
        if os.path.isdir(path):
            if recursive:
                found, _, other = scan_images(path, recursive=True)
                paths.extend(found)
                files += other
            else:
                folders += 1
        elif os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
            if os.path.isfile(path):
                paths.append(path)
        else:
            files += 1
    return paths, folders, files


def list_images(folder):
    """Sorted paths of the image files directly inside `folder`.

    Hidden files (names starting with a dot) are skipped.

    Raises:
        InputError: `folder` does not exist or is not a folder.
    """
    return scan_images(folder)[0]


def warn_skipped(folder, folders, files, recursive_option=None):
    """One `InputWarning` line counting what a folder input left out."""
    import warnings

    from keras_enlca.errors import InputWarning

    parts = []
    if folders:
        how = (
            f"pass {recursive_option} to include them"
            if recursive_option
            else "subfolders are not searched"
        )
        parts.append(f"{folders} subfolder{'s' if folders != 1 else ''} ({how})")
    if files:
        parts.append(
            "1 file that is not an image"
            if files == 1
            else f"{files} files that are not images"
        )
    if parts:
        warnings.warn(
            f"{folder}: skipped {' and '.join(parts)}.", InputWarning, stacklevel=2
        )
