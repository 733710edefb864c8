"""`enlca export`: a `.keras` model -> SavedModel or (quantized) TFLite."""

import click

from keras_enlca.export.activation_ranges import DEFAULT_RANGE_METHOD
from keras_enlca.export.activation_ranges import RANGE_METHODS
from keras_enlca.inference.metadata import FORMATS
from keras_enlca.inference.metadata import QUANTIZATIONS


@click.command(name="export")
@click.argument("model", type=click.Path(path_type=str))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS, case_sensitive=False),
    default="tflite",
    show_default=True,
    help="Artifact format.",
)
@click.option(
    "--quantize",
    type=click.Choice(QUANTIZATIONS, case_sensitive=False),
    default="none",
    show_default=True,
    help="TFLite weights/activations: float32 (none), float16 weights, dynamic-range "
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
    "calibration.",
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
@click.option(
    "--tile",
    nargs=2,
    type=click.IntRange(min=1),
    default=None,
    metavar="H W",
    help="Fix the input shape to H x W (for runtimes that want static shapes). "
    "Default: any height and width.",
)
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(path_type=str),
    help="Output .tflite file or SavedModel folder (written atomically). An existing "
    "one is an error unless --overwrite.",
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
@click.option(
    "--scale",
    type=click.IntRange(min=1),
    default=None,
    help="Expected upscaling factor; an error if the model differs.",
)
@click.option(
    "--float-ops",
    default=None,
    metavar="OPS",
    help="int8: comma-separated TFLite op types kept in float everywhere, besides the "
    "attention layers' arithmetic [default: SOFTMAX,BATCH_MATMUL]; 'none' quantizes "
    "everything, attention included (for comparison: it loses accuracy or fails).",
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
    quantize,
    calibration,
    calibration_crops,
    max_drop,
    report,
    tile,
    out,
    overwrite,
    verify,
    scale,
    float_ops,
    range_method,
):
    """Export a .keras MODEL to a SavedModel or a TFLite model.

    Every artifact takes uint8 RGB images (N/1, H, W, 3) and returns the uint8
    upscaled image; TFLite models use LiteRT builtin ops only (an op that
    would need the Flex delegate is an error naming it). A JSON with scale,
    input range, tile, quantization, source model and parameter count is
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
      enlca export enlcn_x2.keras --quantize float16 --tile 128 128 \\
          -o enlcn_x2_128.tflite
      enlca export enlcn_x2.keras --format savedmodel -o enlcn_x2_savedmodel
      # replace an earlier one:
      enlca export enlcn_x2.keras -o enlcn_x2.tflite --overwrite
    """
    from keras_enlca.inference.loader import SAVED_MODEL_ENTRIES
    from keras_enlca.inference.metadata import metadata_path
    from keras_enlca.utils.outputs import check_output

    # The output first, before TensorFlow loads (seconds); export_model applies
    # the same rule again for callers of the Python API.
    check_output(
        out,
        overwrite=overwrite,
        folder=fmt.lower() == "savedmodel",
        artifact_entries=SAVED_MODEL_ENTRIES,
        sidecars=[metadata_path(out)],
        option="--out",
    )
    from keras_enlca.export.export_model import export_model
    from keras_enlca.export.tflite import ATTENTION_LAYERS
    from keras_enlca.export.tflite import DEFAULT_INT8_FLOAT_OPS

    ops, layers, image = DEFAULT_INT8_FLOAT_OPS, ATTENTION_LAYERS, True
    if float_ops is not None:
        if quantize.lower() != "int8":
            raise click.UsageError("--float-ops is only used with --quantize int8.")
        if float_ops.strip().lower() == "none":
            ops, layers, image = (), (), False
        else:
            ops = tuple(op.strip().upper() for op in float_ops.split(",") if op.strip())
    metadata = export_model(
        model,
        out,
        format=fmt.lower(),
        quantize=quantize.lower(),
        calibration=calibration,
        tile=tuple(tile) if tile else None,
        verify=verify,
        scale=scale,
        float_ops=ops,
        float_layers=layers,
        float_image_layers=image,
        num_calibration_crops=calibration_crops,
        overwrite=overwrite,
        max_drop=max_drop,
        report=report,
        range_method=range_method.lower(),
    )
    from keras_enlca.inference.metadata import metadata_path

    tile_text = "x".join(map(str, metadata["tile"])) if metadata["tile"] else "any size"
    click.echo(
        f"Wrote {out} ({metadata['format']}, {metadata['quantization']}, "
        f"{metadata['network']} x{metadata['scale']}, input {tile_text}, "
        f"{metadata['size_bytes'] / 1e6:.2f} MB)"
    )
    click.echo(f"Metadata: {metadata_path(out)}")
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


def _db(value):
    return "fails to run" if value is None else f"{value:.3f} dB"
