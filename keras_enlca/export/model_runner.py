import os

import numpy as np

from keras_enlca.errors import InputError
from keras_enlca.utils.image_conventions import to_uint8  # noqa: F401 - the runners use it

# What an exported SavedModel folder holds: `--overwrite` replaces a folder
# with nothing else in it, never one holding other files.
SAVED_MODEL_ENTRIES = ("saved_model.pb", "fingerprint.pb", "variables", "assets",
                       "assets.extra")


def model_format(path):
    """`"keras"`, `"savedmodel"` or `"tflite"` for a model path.

    Raises `InputError` naming the path when it does not exist or is none of
    the three.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            return "savedmodel"
        raise InputError(f"{path}: a folder, but not a SavedModel (no saved_model.pb inside).")
    if not os.path.exists(path):
        raise InputError(f"{path}: no such model file or folder.")
    lower = path.lower()
    if lower.endswith(".keras"):
        return "keras"
    if lower.endswith(".tflite"):
        return "tflite"
    with open(path, "rb") as f:
        head = f.read(8)
    if head[4:8] == b"TFL3":
        return "tflite"
    if head[:2] == b"PK":
        return "keras"
    raise InputError(
        f"{path}: unknown model format; expected a .keras file, a SavedModel folder "
        "or a .tflite file."
    )


def as_batch(images):
    """`(images as float32 NHWC, whether a batch axis was added)`."""
    images = np.asarray(images)
    if images.ndim == 3:
        return images[None].astype(np.float32, copy=False), True
    if images.ndim != 4 or images.shape[-1] != 3:
        raise InputError(
            f"expected RGB images of shape (batch, height, width, 3), got {images.shape}."
        )
    return images.astype(np.float32, copy=False), False


def probe_image(size):
    """A smooth colour ramp `(1, height, width, 3)` for probing a model's scale.

    Not black: a fully int8 model can fail on an all-zero input (a
    quantised division by zero).
    """
    height, width = size
    y = np.linspace(0.2, 0.8, height, dtype=np.float32)[:, None]
    x = np.linspace(0.2, 0.8, width, dtype=np.float32)[None, :]
    image = np.stack([0.5 * (y + x), y * np.ones_like(x), x * np.ones_like(y)], axis=-1)
    return image[None]


class ModelRunner:
    """A super-resolution model behind one calling convention.

    Subclasses wrap a `.keras` model (`KerasRunner`), a SavedModel
    (`SavedModelRunner`) or a `.tflite` model run by the LiteRT interpreter
    (`LiteRTRunner`); `ModelRunner.load(path)` picks the right one. All of
    them are callables mapping NHWC float32 RGB in [0, 1] to the upscaled
    NHWC float32 RGB in [0, 1], so the tiler
    (`keras_enlca.evaluation.upscale_tiled`), `enlca upscale` and the
    verification treat the three formats alike. Exported models work on
    8-bit pixels: their runners round the input to 8 bits and return the
    8-bit output divided by 255.

    Attributes:
        path: the model path.
        format: `"keras"`, `"savedmodel"` or `"tflite"`.
        scale: the upscaling factor.
        input_size: None when the model takes any height and width, else
            the fixed `(height, width)` (TFLite models exported with
            `--tile`); smaller inputs are padded, larger ones must be tiled.
        metadata: the export metadata dict (empty when there is none).

    Call arguments:
        images: NHWC (or a single HWC) float32 RGB array in [0, 1].

    Example:

    ```python
    runner = ModelRunner.load("enlcn_x2.tflite")
    sr = runner(lr)  # lr: (1, h, w, 3) float32 in [0, 1]
    # sr.shape == (1, runner.scale * h, runner.scale * w, 3)
    ```
    """

    format = None

    def __init__(self, path, scale, input_size=None, metadata=None):
        self.path = os.fspath(path) if path is not None else None
        self.scale = int(scale)
        self.input_size = tuple(input_size) if input_size is not None else None
        self.metadata = dict(metadata or {})

    @staticmethod
    def load(path, **kwargs):
        """Opens `path` (`.keras`, SavedModel folder or `.tflite`)."""
        fmt = model_format(path)
        if fmt == "keras":
            from keras_enlca.export.keras_runner import KerasRunner

            return KerasRunner(path, **kwargs)
        if fmt == "savedmodel":
            from keras_enlca.export.saved_model_runner import SavedModelRunner

            return SavedModelRunner(path, **kwargs)
        from keras_enlca.export.litert_runner import LiteRTRunner

        return LiteRTRunner(path, **kwargs)

    def run_batch(self, images):
        raise NotImplementedError

    def __call__(self, images):
        batch, added = as_batch(images)
        height, width = batch.shape[1:3]
        if self.input_size is not None and (
            height > self.input_size[0] or width > self.input_size[1]
        ):
            raise InputError(
                f"{self.path}: takes {self.input_size[0]}x{self.input_size[1]} inputs "
                f"(exported with --tile), got {height}x{width}; tile the image."
            )
        out = self.run_batch(batch)
        return out[0] if added else out

    def _measure_scale(self, run_one):
        """Sets `self.scale` from one probe image through `run_one`.

        A scale recorded in the artifact's metadata that disagrees with the
        measured one is an error naming the file.
        """
        size = self.input_size or (24, 24)
        out = run_one(probe_image(size))
        if out.shape[1] % size[0] or out.shape[2] % size[1]:
            raise InputError(f"{self.path}: the model's output is not an integer upscale.")
        probed = out.shape[1] // size[0]
        declared = self.metadata.get("scale")
        if declared is not None and int(declared) != probed:
            raise InputError(
                f"{self.path}: its metadata says x{declared}, but the model upscales "
                f"x{probed}."
            )
        self.scale = probed

    def check_scale(self, scale, option="--scale"):
        """Raises `InputError` unless the model upscales by `scale`."""
        if scale is not None and int(scale) != self.scale:
            raise InputError(
                f"{self.path}: is a x{self.scale} model, but {option} {scale} was asked."
            )

    def describe(self):
        """A dict of what is known about the model (for `enlca info`)."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({self.path!r}, scale={self.scale})"
