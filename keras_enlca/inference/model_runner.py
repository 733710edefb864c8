"""The calling convention shared by the `.keras`, SavedModel and LiteRT runners."""

import os

import numpy as np

from keras_enlca.errors import InputError


def checked_scale(height, probe, name):
    """The upscaling factor a probe of `probe` rows that came out `height`
    rows high shows; `InputError` naming `name` unless it is an integer >= 2."""
    if height % probe:
        raise InputError(
            f"{name}: the model maps {probe} rows to {height}, not an integer "
            "upscale; enlca needs a x2, x3, x4... super-resolution model."
        )
    scale = height // probe
    if scale < 2:
        raise InputError(
            f"{name}: the model's output is as large as its input (x{scale}), "
            "so it upscales nothing; enlca needs a x2, x3, x4... super-resolution "
            "model."
        )
    return scale


def as_batch(images):
    """`(images as float32 NHWC, whether a batch axis was added)`."""
    images = np.asarray(images)
    if images.ndim == 3:
        return images[None].astype(np.float32, copy=False), True
    if images.ndim != 4 or images.shape[-1] != 3:
        raise InputError(
            "expected RGB images of shape (batch, height, width, 3), got "
            f"{images.shape}."
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
    (`LiteRTRunner`); `open_runner(path)` picks the right one. All of
    them are callables mapping NHWC float32 RGB in [0, 1] to the upscaled
    NHWC float32 RGB in [0, 1], so the tiler
    (`keras_enlca.inference.upscale_tiled`), `enlca upscale` and the
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
    runner = open_runner("enlcn_x2.tflite")
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

    def run_batch(self, images):
        raise NotImplementedError

    def _run_one_by_one(self, images, invoke):
        """`invoke` (a batch-of-one call) on each image in turn; with a fixed
        `input_size`, a smaller image is mirror-padded to it and the output
        cropped back to `scale` times the image."""
        outputs = []
        for image in images:
            image = image[None]
            height, width = image.shape[1:3]
            if self.input_size is not None and (height, width) != self.input_size:
                pad = (
                    (0, 0),
                    (0, self.input_size[0] - height),
                    (0, self.input_size[1] - width),
                    (0, 0),
                )
                out = invoke(np.pad(image, pad, mode="symmetric"))
                out = out[:, : height * self.scale, : width * self.scale]
            else:
                out = invoke(image)
            outputs.append(out)
        return np.concatenate(outputs, axis=0)

    def __call__(self, images):
        batch, added = as_batch(images)
        height, width = batch.shape[1:3]
        if self.input_size is not None and (
            height > self.input_size[0] or width > self.input_size[1]
        ):
            raise InputError(
                f"{self.path}: takes {self.input_size[0]}x{self.input_size[1]} inputs "
                f"(exported with --input-size), got {height}x{width}; enlca upscale "
                "tiles such a model by itself, enlca eval needs an export without "
                "--input-size."
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
        if out.ndim != 4 or out.shape[-1] != 3:
            raise InputError(
                f"{self.path}: the model's outputs have shape {tuple(out.shape)}; "
                "enlca needs a super-resolution model with RGB (3-channel) NHWC "
                "inputs and outputs."
            )
        if out.shape[2] % size[1] or out.shape[2] // size[1] != out.shape[1] // size[0]:
            raise InputError(
                f"{self.path}: the model's output is not an integer upscale; enlca "
                "needs a x2, x3, x4... super-resolution model."
            )
        probed = checked_scale(out.shape[1], size[0], self.path)
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
                f"{self.path}: is a x{self.scale} model, but {option} {scale} was "
                "asked."
            )

    def describe(self):
        """A dict of what is known about the model (for `enlca info`)."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({self.path!r}, scale={self.scale})"
