"""`ExportOptions`: every choice of one export, checked once before any work."""

import dataclasses
import os
import warnings

from keras_enlca.errors import InputError
from keras_enlca.export.activation_ranges import DEFAULT_RANGE_METHOD
from keras_enlca.export.activation_ranges import RANGE_METHODS
from keras_enlca.export.calibration import DEFAULT_CROP_SIZES
from keras_enlca.export.calibration import DEFAULT_NUM_CROPS
from keras_enlca.export.targets import DEFAULT_TARGET
from keras_enlca.export.targets import get_target
from keras_enlca.inference.artifact_format import artifact_formats
from keras_enlca.inference.artifact_format import export_format_names
from keras_enlca.inference.artifact_format import get_format
from keras_enlca.inference.artifact_format import quantization_names
from keras_enlca.inference.metadata import metadata_path
from keras_enlca.utils.outputs import check_output

# The modes calibrated on images, and their activation type.
INTEGER_QUANTIZATIONS = {"int8": "int8", "int16x8": "int16", "int8-full": "int8"}
# TFLite op types left in float32 anywhere in an "int8" model (A2N's
# attention-dropout softmax, any attention matrix product).
DEFAULT_INT8_FLOAT_OPS = ("SOFTMAX", "BATCH_MATMUL")
# `float_layers="attention"`: keep the attention layers' arithmetic in float.
ATTENTION_LAYERS = "attention"
# Bytes per weight an artifact stores at least: a lower bound of its size,
# to refuse a disk that is too full before converting.
MIN_BYTES_PER_WEIGHT = {
    "none": 4,
    "float16": 2,
    "dynamic": 1,
    "int8": 1,
    "int16x8": 1,
    "int8-full": 1,
}


def check_input_size(size, option="--input-size"):
    """Returns `size` as a `(height, width)` tuple of ints, or None."""
    if size is None:
        return None
    if isinstance(size, int):
        size = (size, size)
    size = tuple(int(t) for t in size)
    if len(size) != 2 or min(size) < 1:
        raise InputError(
            f"{option} must be two positive sizes (height width), got {size}."
        )
    return size


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """What one export writes, validated once (`ExportOptions.create`).

    The command line builds it from its options before TensorFlow loads;
    `export_model` takes it (or builds it from keyword arguments) and hands
    it to the format's exporter, which reads only what concerns it.

    Args:
        out: the artifact path.
        format: a format name of `keras_enlca.inference.artifact_format`.
        quantize: one of the format's `quantizations`.
        input_size: None (any input size) or the fixed `(height, width)`.
        target: the runtime the export is made for (`export.targets`).
        scale: if given, the model must upscale by this factor.
        verify: None, or a folder (or image) of HR images to measure the
            artifact on (`verify_artifact`).
        verify_tile: LR tile size of the verification (default 192).
        max_drop: dB; int8 layer choice and/or the `verify` gate.
        source: the model's name in the metadata (default: its path).
        overwrite: replace an earlier artifact at `out` and its JSON.
        calibration: int8/int16x8: folder or image of calibration images
            (None: the bundled photographs).
        num_calibration_crops: int8/int16x8: number of calibration crops;
            with a fixed `input_size`, that many crops' pixels in crops of
            the input size (`calibration.tile_crop_count`).
        calibration_crop_size: int8/int16x8: crop size or sizes (the
            input size when fixed).
        float_ops: int8: TFLite op types kept in float.
        float_layers: int8: layer names kept in float (`"attention"`).
        float_image_layers: int8: keep the layers holding the image (the
            3-channel ends and the head convolution) in float.
        float_residual_adds: int8: keep the ADD closing each residual
            block in float (the trunk's residual stream).
        report: int8: `.csv`/`.json` path of the per-layer table.
        range_method: int8: `"mse"` or `"minmax"` activation ranges.

    Example:

    ```python
    options = ExportOptions.create(
        "enlcn_x2.onnx", format="onnx", input_size=(128, 128)
    )
    export_model("enlcn_x2.keras", options=options)
    ```
    """

    out: str
    format: str = "tflite"
    quantize: str = "none"
    input_size: tuple | None = None
    target: str = DEFAULT_TARGET
    scale: int | None = None
    verify: str | None = None
    verify_tile: int | None = None
    max_drop: float | None = None
    source: str | None = None
    overwrite: bool = False
    calibration: str | None = None
    num_calibration_crops: int = DEFAULT_NUM_CROPS
    calibration_crop_size: object = dataclasses.field(
        default_factory=lambda: DEFAULT_CROP_SIZES
    )
    float_ops: tuple = DEFAULT_INT8_FLOAT_OPS
    float_layers: object = ATTENTION_LAYERS
    float_image_layers: bool = True
    float_residual_adds: bool = True
    report: str | None = None
    range_method: str = DEFAULT_RANGE_METHOD

    @property
    def artifact_format(self):
        return get_format(self.format)

    @property
    def integer(self):
        """Whether the quantization is calibrated on images."""
        return self.quantize in INTEGER_QUANTIZATIONS

    @classmethod
    def create(cls, out, model=None, tile=None, **settings):
        """Checks every choice and the output path; returns the options.

        Runs before any model is loaded. `model` (a path) is only used to
        refuse an `out` that would overwrite it. `tile` is the deprecated
        name of `input_size`. `quantize=None` and `input_size=None` take the
        target's choice. Raises `InputError` (or `OutputError`) naming the
        option.
        """
        if out is None:
            raise InputError("--out: give the path of the artifact to write.")
        settings["out"] = os.fspath(out).rstrip("/\\")
        size_option = "--input-size"
        if tile is not None:
            if settings.get("input_size") is not None:
                raise InputError("--tile and --input-size: give --input-size only.")
            warnings.warn(
                "export's `tile` is deprecated; use `input_size`.",
                DeprecationWarning,
                stacklevel=2,
            )
            settings["input_size"], size_option = tile, "--tile"
        settings = {k: v for k, v in settings.items() if v is not None}
        options = cls(**settings)
        target = get_target(options.target)
        fmt = _check_format(options.format)
        quantize = options.quantize
        if "quantize" not in settings:
            quantize = target.quantization(fmt.name)
        input_size = check_input_size(
            settings.get("input_size", target.input_size), size_option
        )
        options = dataclasses.replace(
            options,
            format=fmt.name,
            quantize=str(quantize).lower(),
            target=target.name,
            input_size=input_size,
            range_method=str(options.range_method).lower(),
        )
        options._check_choices()
        options._check_paths(model)
        return options

    def _check_choices(self):
        fmt = self.artifact_format
        every = quantization_names()
        if self.quantize not in every:
            raise InputError(
                f"--quantize must be one of {', '.join(every)}, got {self.quantize!r}."
            )
        if self.quantize not in fmt.quantizations:
            others = [
                f.name for f in artifact_formats() if self.quantize in f.quantizations
            ]
            raise InputError(
                f"--quantize applies to --format {' or '.join(others)} only: "
                f"{fmt.display_name} exports take --quantize "
                f"{', '.join(fmt.quantizations)}, not {self.quantize}."
            )
        if self.range_method not in RANGE_METHODS:
            raise InputError(
                f"range_method must be one of {', '.join(RANGE_METHODS)}, got "
                f"{self.range_method!r}."
            )
        if self.calibration is not None and not self.integer:
            raise InputError(
                "--calibration is only used with --quantize int8, int16x8 or int8-full."
            )
        if self.report is not None and self.quantize != "int8":
            raise InputError("--report is only used with --quantize int8.")
        if self.max_drop is not None and self.quantize != "int8" and not self.verify:
            raise InputError(
                "--max-drop needs --quantize int8 (layer choice) or --verify (gate)."
            )

    def _check_paths(self, model):
        fmt, out = self.artifact_format, self.out
        if self.report is not None:
            from keras_enlca.export.quantization_report import check_report_path

            check_report_path(self.report)
        if fmt.suffix is not None and not out.lower().endswith(fmt.suffix):
            raise InputError(
                f"--out {out}: a {fmt.display_name} model path must end with "
                f"{fmt.suffix}."
            )
        suffixes = tuple(f.suffix for f in artifact_formats() if f.suffix)
        if fmt.is_folder and out.lower().endswith((*suffixes, ".h5", ".json")):
            raise InputError(
                f"--out {out}: a {fmt.display_name} is a folder; give a folder name."
            )
        if (
            model is not None
            and not hasattr(model, "predict")
            and os.path.exists(os.fspath(model))
            and os.path.realpath(out) == os.path.realpath(os.fspath(model))
        ):
            raise InputError(f"--out {out}: would overwrite the model being exported.")
        check_output(
            out,
            overwrite=self.overwrite,
            folder=fmt.is_folder,
            artifact_entries=fmt.folder_entries or None,
            sidecars=[metadata_path(out)],
            option="--out",
        )
        if self.calibration is not None:
            from keras_enlca.export.calibration import calibration_image_paths

            calibration_image_paths(self.calibration)
        if self.verify is not None:
            from keras_enlca.data.io import list_images

            if not os.path.isfile(os.fspath(self.verify)) and not list_images(
                self.verify
            ):
                raise InputError(f"--verify {self.verify}: the folder holds no images.")


def _check_format(name):
    fmt = get_format(name)
    if fmt.exporter is None:
        raise InputError(
            f"--format must be one of {', '.join(export_format_names())}, got {name!r}."
        )
    return fmt
