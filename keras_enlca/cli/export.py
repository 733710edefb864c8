"""`enlca export`: a `.keras` model -> TFLite, ONNX, SavedModel (the format table)."""

import click

from keras_enlca.cli.options import input_size_options
from keras_enlca.cli.options import model_argument
from keras_enlca.cli.options import scale_option
from keras_enlca.export.activation_ranges import DEFAULT_RANGE_METHOD
from keras_enlca.export.activation_ranges import RANGE_METHODS
from keras_enlca.export.targets import DEFAULT_TARGET
from keras_enlca.export.targets import TARGETS
from keras_enlca.export.targets import get_target
from keras_enlca.inference.artifact_format import export_format_names
from keras_enlca.inference.artifact_format import quantization_names


class _LiveChoice(click.Choice):
    """A choice list read from a table when used (a format registered after
    this module was imported is offered too)."""

    def __init__(self, names):
        self._names = names
        super().__init__(names(), case_sensitive=False)

    @property
    def choices(self):
        return tuple(self._names())

    @choices.setter
    def choices(self, value):
        pass


@click.command(name="export")
@model_argument()
@click.option(
    "--format",
    "fmt",
    type=_LiveChoice(export_format_names),
    default="tflite",
    show_default=True,
    help="Artifact format: tflite (LiteRT), onnx (ONNX Runtime), savedmodel "
    "(TensorFlow).",
)
@click.option(
    "--target",
    type=click.Choice(tuple(TARGETS), case_sensitive=False),
    default=DEFAULT_TARGET,
    show_default=True,
    help="Runtime the export is for; picks the input shape and precision unless "
    "--input-size/--quantize are given. "
    + "; ".join(f"{t.name}: {t.description}" for t in TARGETS.values())
    + ".",
)
@click.option(
    "--quantize",
    type=_LiveChoice(quantization_names),
    default=None,
    help="Weights/activations [default: the --target's, none (float32) for cpu]. "
    "ONNX: none or float16. TFLite: float32 (none), float16 weights, dynamic-range "
    "int8 weights, full int8 with the attention arithmetic kept in float, or int16x8 "
    "(int16 activations, int8 weights; ops without a 16x8 kernel stay float), or "
    "int8-full (every op integer, uint8 pixels in and out: for NPUs).",
)
@click.option(
    "--calibration",
    type=click.Path(path_type=str),
    default=None,
    help="int8/int16x8: folder of typical input images for calibration "
    "(default: the bundled sample photos).",
)
@click.option(
    "--calibration-crops",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="int8/int16x8: number of random crops (48, 64 and 96 pixels) used for "
    "calibration; with --input-size, as many crops of that size as hold the same "
    "pixels (at least 4).",
)
@click.option(
    "--max-drop",
    type=click.FloatRange(min=0),
    default=None,
    metavar="DB",
    help="int8: keep float only the layers needed to stay within this PSNR-Y drop "
    "(dB), measured per layer on pairs made from the calibration images. With "
    "--verify (any format): exit 1 and remove the artifact when its drop exceeds it.",
)
@click.option(
    "--report",
    type=click.Path(path_type=str),
    default=None,
    metavar="FILE",
    help="int8: write the per-layer table (calibrated range, drop with the layer kept "
    "float, kept or not and why) to FILE (.csv or .json).",
)
@input_size_options()
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(path_type=str),
    help="Output .tflite or .onnx file or SavedModel folder (written atomically). "
    "An existing one is an error unless --overwrite.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace an earlier export at --out and its JSON (never a folder holding "
    "other files).",
)
@click.option(
    "--verify",
    type=click.Path(path_type=str),
    default=None,
    help="Folder of HR images: measure the artifact's PSNR-Y against the Keras model "
    "and the ground truth (LR made with MATLAB bicubic) and store it in the JSON.",
)
@scale_option(
    "export", help="Expected upscaling factor; an error if the model differs."
)
@click.option(
    "--float-ops",
    default=None,
    metavar="OPS",
    help="int8: comma-separated TFLite op types kept in float everywhere, besides the "
    "attention layers' arithmetic [default: SOFTMAX,BATCH_MATMUL]; 'none' quantizes "
    "everything, attention, image ends and residual adds included (for comparison: "
    "it loses accuracy or fails).",
)
@click.option(
    "--ranges",
    "range_method",
    type=click.Choice(RANGE_METHODS, case_sensitive=False),
    default=DEFAULT_RANGE_METHOD,
    show_default=True,
    help="int8: activation ranges from the calibration: mse (each range shrunk to "
    "least quantisation error on the crops) or minmax (the recorded min and max).",
)
def export(
    model,
    fmt,
    target,
    quantize,
    calibration,
    calibration_crops,
    max_drop,
    report,
    input_size,
    tile,
    out,
    overwrite,
    verify,
    scale,
    float_ops,
    range_method,
):
    """Export a .keras MODEL to TFLite, ONNX or a SavedModel.

    Every artifact takes uint8 RGB images (N/1, H, W, 3) and returns the uint8
    upscaled image; TFLite models use LiteRT builtin ops only (an op that
    would need the Flex delegate is an error naming it). A JSON with scale,
    input shape, target, quantization, source model and parameter count is
    written beside the artifact (OUT.json), with the measured PSNR-Y when
    --verify is given.

    \b
    Examples:
      enlca export enlcn_x2.keras -o enlcn_x2.tflite
      enlca export enlcn_x2.keras --quantize int8 --calibration photos/ \\
          --verify Set5/HR -o enlcn_x2_int8.tflite
      enlca export a2n_x3.keras --quantize int8 --max-drop 0.1 --report layers.csv \\
          --verify Set5/HR -o a2n_x3_int8.tflite
      enlca export a2n_x3.keras --quantize int16x8 -o a2n_x3_16x8.tflite
      enlca export a2n_x3.keras --quantize int8-full -o a2n_x3_npu.tflite
      # int8 with TFLite's own min/max activation ranges (to compare):
      enlca export enlcn_x2.keras --quantize int8 --ranges minmax -o minmax.tflite
      enlca export enlcn_x2.keras --quantize float16 --input-size 128 128 \\
          -o enlcn_x2_128.tflite
      enlca export enlcn_x2.keras --format onnx -o enlcn_x2.onnx
      enlca export enlcn_x2.keras --target web -o enlcn_x2_web.tflite
      enlca export enlcn_x2.keras --target gpu -o enlcn_x2_gpu.tflite
      enlca export enlcn_x2.keras --format savedmodel -o enlcn_x2_savedmodel
      # replace an earlier one:
      enlca export enlcn_x2.keras -o enlcn_x2.tflite --overwrite
    """
    from keras_enlca.export.export_options import ATTENTION_LAYERS
    from keras_enlca.export.export_options import DEFAULT_INT8_FLOAT_OPS
    from keras_enlca.export.export_options import ExportOptions

    if tile:
        if input_size:
            raise click.UsageError("--tile is the old name of --input-size: give one.")
        click.echo(
            "Warning: enlca export --tile is deprecated; use --input-size H W "
            "(--tile goes in the next release).",
            err=True,
        )
        input_size = tile
    ops, layers, image = DEFAULT_INT8_FLOAT_OPS, ATTENTION_LAYERS, True
    if float_ops is not None:
        # int8 from --quantize, or from the target (--target web).
        chosen = quantize or get_target(target).quantization(fmt.lower())
        if chosen.lower() != "int8":
            raise click.UsageError("--float-ops is only used with --quantize int8.")
        if float_ops.strip().lower() == "none":
            ops, layers, image = (), (), False  # and integer residual adds
        else:
            ops = tuple(op.strip().upper() for op in float_ops.split(",") if op.strip())
    # Every choice and the output are checked here, before TensorFlow loads.
    options = ExportOptions.create(
        out,
        model=model,
        format=fmt.lower(),
        target=target.lower(),
        quantize=quantize.lower() if quantize else None,
        input_size=tuple(input_size) if input_size else None,
        calibration=calibration,
        num_calibration_crops=calibration_crops,
        verify=verify,
        scale=scale,
        float_ops=ops,
        float_layers=layers,
        float_image_layers=image,
        float_residual_adds=image,
        overwrite=overwrite,
        max_drop=max_drop,
        report=report,
        range_method=range_method.lower(),
    )
    from keras_enlca.export.export_model import export_model

    metadata = export_model(model, options=options)
    from keras_enlca.inference.metadata import metadata_path

    size = metadata["input_size"]
    tile_text = "x".join(map(str, size)) if size else "any size"
    click.echo(
        f"Wrote {out} ({metadata['format']}, {metadata['quantization']}, "
        f"{metadata['network']} x{metadata['scale']}, input {tile_text}, "
        f"{metadata['size_bytes'] / 1e6:.2f} MB)"
    )
    click.echo(f"Metadata: {metadata_path(out)}")
    warning = _target_warning(metadata)
    if warning:
        click.echo(f"Warning: {warning}", err=True)
    if metadata.get("fallback") and max_drop is not None:
        kept = [
            name
            for name in metadata["float_layers"]
            if "sensitivity" in metadata["float_layer_reasons"].get(name, "")
        ]
        click.echo(
            "int8 drop on the calibration pairs: "
            f"{_db(metadata['fallback']['integer_drop'])} all integer, "
            f"{_db(metadata['fallback']['drop'])} with "
            f"{', '.join(kept) if kept else 'no layer'} kept float "
            f"(budget {max_drop:g} dB"
            f"{'' if metadata['fallback']['reached'] else ', not reached'})"
        )
    result = metadata.get("verification")
    if result:
        click.echo(
            f"Verified on {result['images']} images: PSNR-Y vs Keras "
            f"{result['psnr_y_vs_keras']:.2f} dB; vs HR "
            f"{result['psnr_y_artifact_vs_hr']:.2f} dB (Keras "
            f"{result['psnr_y_keras_vs_hr']:.2f} dB, drop {result['psnr_y_drop']:.3f} "
            f"dB, bicubic {result['psnr_y_bicubic_vs_hr']:.2f} dB)"
        )


def _target_warning(metadata):
    """One line when the --target's GPU runtime (gpu: the TFLite GPU
    delegate, web: LiteRT.js WebGPU) would not run the export whole; None
    otherwise or when the format records no placement (not TFLite)."""
    from keras_enlca.export.op_compatibility import RUNTIMES
    from keras_enlca.export.op_compatibility import fallback_warning

    target = metadata.get("target")
    if target not in RUNTIMES or "gpu_placement" not in metadata:
        return None
    return fallback_warning(metadata, target)


def _db(value):
    return "fails to run" if value is None else f"{value:.3f} dB"
