"""`export_model`: a `.keras` file to a verified SavedModel or TFLite model."""

import datetime
import os
import tempfile

from keras_enlca.errors import InputError
from keras_enlca.export.activation_ranges import DEFAULT_RANGE_METHOD
from keras_enlca.export.calibration import DEFAULT_CROP_SIZES
from keras_enlca.export.calibration import DEFAULT_NUM_CROPS
from keras_enlca.export.calibration import DEFAULT_PAIR_SIZE
from keras_enlca.export.calibration import calibration_crops
from keras_enlca.export.calibration import crop_sizes
from keras_enlca.export.calibration import default_calibration_dir
from keras_enlca.export.calibration import read_calibration_images
from keras_enlca.export.calibration import representative_dataset
from keras_enlca.export.calibration import selection_pairs
from keras_enlca.export.float_fallback import pair_drop_measure
from keras_enlca.export.quantization_report import write_quantization_report
from keras_enlca.export.saved_model import SAVED_MODEL_ENTRIES
from keras_enlca.export.saved_model import check_tile
from keras_enlca.export.saved_model import export_saved_model
from keras_enlca.export.saved_model import tf_write_error
from keras_enlca.export.tflite import ATTENTION_LAYERS
from keras_enlca.export.tflite import DEFAULT_INT8_FLOAT_OPS
from keras_enlca.export.tflite import INTEGER_QUANTIZATIONS
from keras_enlca.export.tflite import attention_layer_names
from keras_enlca.export.tflite import export_tflite
from keras_enlca.export.tflite import image_layer_names
from keras_enlca.export.verify import check_drop
from keras_enlca.inference.keras_runner import parameter_count
from keras_enlca.inference.loader import model_format
from keras_enlca.inference.metadata import FORMATS
from keras_enlca.inference.metadata import QUANTIZATIONS
from keras_enlca.inference.metadata import metadata_path
from keras_enlca.inference.metadata import write_metadata
from keras_enlca.utils.outputs import check_output
from keras_enlca.utils.outputs import check_writable

# Bytes per weight an artifact stores at least: a lower bound of its size,
# to refuse a disk that is too full before converting.
_MIN_BYTES_PER_WEIGHT = {"none": 4, "float16": 2, "dynamic": 1, "int8": 1, "int16x8": 1}


def base_metadata(model, fmt, scale, tile, quantization, source):
    """The metadata fields known before conversion (see `metadata`)."""
    import keras
    import tensorflow as tf

    from keras_enlca.version import __version__

    batch = 1 if fmt == "tflite" else None
    height, width = tile if tile else (None, None)
    return {
        "format": fmt,
        "network": type(model).__name__,
        "scale": int(scale),
        "parameters": parameter_count(model),
        "input": {
            "dtype": "uint8",
            "range": [0, 255],
            "layout": "NHWC RGB",
            "shape": [batch, height, width, 3],
        },
        "output": {
            "dtype": "uint8",
            "range": [0, 255],
            "layout": "NHWC RGB",
            "shape": [batch, height and height * scale, width and width * scale, 3],
        },
        "tile": list(tile) if tile else None,
        "quantization": quantization,
        "source_model": source,
        "keras_enlca_version": __version__,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
    }


def _artifact_size(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def _stat_key(path):
    """Identifies what is at `path` now (to tell whether this call wrote it)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _remove_artifact(out):
    """Removes an artifact this call wrote (and its JSON) after a failure."""
    import shutil

    if os.path.isdir(out):
        shutil.rmtree(out, ignore_errors=True)
    for path in (out, metadata_path(out)):
        if os.path.isfile(path):
            os.remove(path)


def export_model(
    model,
    out,
    format="tflite",
    quantize="none",
    calibration=None,
    tile=None,
    verify=None,
    scale=None,
    float_ops=DEFAULT_INT8_FLOAT_OPS,
    float_layers=ATTENTION_LAYERS,
    float_image_layers=True,
    num_calibration_crops=DEFAULT_NUM_CROPS,
    calibration_crop_size=DEFAULT_CROP_SIZES,
    verify_tile=None,
    source=None,
    overwrite=False,
    max_drop=None,
    report=None,
    range_method=DEFAULT_RANGE_METHOD,
):
    """Exports a Keras super-resolution model and writes its metadata JSON.

    This is what `enlca export` runs.

    Args:
        model: a `.keras` path or a `keras.Model`.
        out: the artifact path (`.tflite` file or SavedModel folder).
        format: `"tflite"` or `"savedmodel"`.
        quantize: TFLite only: `"none"`, `"float16"`, `"dynamic"`, `"int8"`,
            `"int16x8"`.
        calibration: int8/int16x8 only: folder (or image) of calibration
            images; None for the bundled sample photographs.
        tile: None (any input size) or `(height, width)`: fixes the input.
        verify: None, or a folder of HR images: measure the artifact (see
            `verify_artifact`) and store the result in the metadata.
        scale: if given, the model must upscale by this factor.
        float_ops: int8 only: TFLite op types kept in float.
        float_layers: int8 only: layer names whose arithmetic stays in float
            (`"attention"`: every attention layer; `()`: none).
        float_image_layers: int8 only: keep the 3-channel output layers in float.
        num_calibration_crops: int8 only: number of calibration crops.
        calibration_crop_size: int8/int16x8: crop size or list of sizes
            (default `DEFAULT_CROP_SIZES`; the tile when fixed).
        verify_tile: LR tile size used by the verification (default 192).
        source: name of the model in the metadata (default: its path).
        overwrite: replace an earlier artifact at `out` and its JSON (never
            a folder holding anything else); otherwise an existing output
            is an error, found before any work.
        max_drop: dB. int8: keep float only the layers needed to stay
            within this PSNR-Y drop, measured on pairs made from the
            calibration images (`float_fallback`). With `verify`, any
            format: a drop over it is a `VerificationError`, and the
            artifact this call wrote is removed.
        report: int8: a `.csv` or `.json` path for the per-layer table
            (calibrated range, drop with the layer alone kept float, chosen
            or not and why); written before verification.
        range_method: int8: `"mse"` (default) sets each activation range
            to least quantisation error on the calibration crops,
            `"minmax"` keeps TFLite's recorded min and max (see
            `export.activation_ranges`).

    Returns:
        The metadata dict (also written to `<out>.json`).

    Example:

    ```python
    export_model(
        "enlcn_small_x2.keras",
        "enlcn_x2_int8.tflite",
        quantize="int8",
        verify="Set5/HR",
    )
    ```
    """
    from keras_enlca.inference.keras_runner import KerasRunner

    if format not in FORMATS:
        raise InputError(
            f"--format must be one of {', '.join(FORMATS)}, got {format!r}."
        )
    if quantize not in QUANTIZATIONS:
        raise InputError(
            f"--quantize must be one of {', '.join(QUANTIZATIONS)}, got {quantize!r}."
        )
    out = os.fspath(out).rstrip("/\\")
    if format == "savedmodel" and quantize != "none":
        raise InputError(
            "--quantize applies to --format tflite only (a SavedModel stays float32)."
        )
    integer = quantize in INTEGER_QUANTIZATIONS
    if calibration is not None and not integer:
        raise InputError(
            "--calibration is only used with --quantize int8, int16x8 or int8-full."
        )
    if report is not None and quantize != "int8":
        raise InputError("--report is only used with --quantize int8.")
    if max_drop is not None and quantize != "int8" and verify is None:
        raise InputError(
            "--max-drop needs --quantize int8 (layer choice) or --verify (gate)."
        )
    if report is not None:
        from keras_enlca.export.quantization_report import check_report_path

        check_report_path(report)
    if format == "tflite" and not out.lower().endswith(".tflite"):
        raise InputError(f"--out {out}: a TFLite model path must end with .tflite.")
    if format == "savedmodel" and out.lower().endswith(
        (".tflite", ".keras", ".h5", ".json")
    ):
        raise InputError(f"--out {out}: a SavedModel is a folder; give a folder name.")
    tile = check_tile(tile)
    if (
        not hasattr(model, "predict")
        and os.path.exists(os.fspath(model))
        and (os.path.realpath(out) == os.path.realpath(os.fspath(model)))
    ):
        raise InputError(f"--out {out}: would overwrite the model being exported.")
    # Where the artifact goes, before any work (loading, converting).
    check_output(
        out,
        overwrite=overwrite,
        folder=format == "savedmodel",
        artifact_entries=SAVED_MODEL_ENTRIES,
        sidecars=[metadata_path(out)],
        option="--out",
    )
    if calibration is not None:
        from keras_enlca.export.calibration import calibration_image_paths

        calibration_image_paths(calibration)
    if verify is not None:
        from keras_enlca.data.io import list_images

        if not os.path.isfile(os.fspath(verify)) and not list_images(verify):
            raise InputError(f"--verify {verify}: the folder holds no images.")
    if not hasattr(model, "predict"):
        fmt = model_format(model)
        if fmt != "keras":
            raise InputError(
                f"{model}: is a {fmt} model; export needs the .keras model."
            )
    reference = KerasRunner(model)
    reference.check_scale(scale)
    keras_model = reference.model
    if source is None:
        source = (
            os.path.abspath(reference.path)
            if os.path.exists(reference.path)
            else reference.path
        )
    if os.path.abspath(out) == os.path.abspath(reference.path):
        raise InputError(f"--out {out}: would overwrite the model being exported.")
    per_weight = _MIN_BYTES_PER_WEIGHT.get(quantize, 1)
    check_writable(
        out, option="--out", needed_bytes=per_weight * keras_model.count_params()
    )
    import tensorflow as tf

    metadata = base_metadata(
        keras_model, format, reference.scale, tile, quantize, source
    )
    before = _stat_key(out)
    try:
        if format == "savedmodel":
            export_saved_model(
                keras_model, out, tile=tile, metadata=metadata, overwrite=overwrite
            )
        else:
            dataset = None
            fallback, info = None, {}
            if integer:
                folder = (
                    calibration
                    if calibration is not None
                    else default_calibration_dir()
                )
                crop = [tile] if tile is not None else calibration_crop_size
                images = read_calibration_images(folder)
                crops = calibration_crops(
                    num_crops=num_calibration_crops, crop_size=crop, images=images
                )
                dataset = representative_dataset(crops, size=tile)
                if quantize == "int8" and (max_drop is not None or report is not None):
                    pairs = selection_pairs(
                        scale=reference.scale,
                        images=images,
                        size=min(tile) if tile is not None else DEFAULT_PAIR_SIZE,
                    )
                    fallback = {
                        "measure": pair_drop_measure(reference, pairs, reference.scale),
                        "max_drop": max_drop,
                        "measure_all": report is not None,
                    }
            if quantize == "int8":
                if float_layers == ATTENTION_LAYERS:
                    float_layers = attention_layer_names(keras_model)
                metadata["float_ops"] = list(float_ops or [])
                metadata["float_layers"] = list(float_layers or [])
                if float_image_layers:
                    metadata["float_layers"] += image_layer_names(keras_model)
            if integer:
                sizes = crop_sizes(crop)
                metadata["calibration"] = {
                    "source": os.path.abspath(folder)
                    if calibration is not None
                    else "bundled sample images",
                    "crops": len(crops),
                    "crop_size": list(sizes[0])
                    if len(sizes) == 1
                    else [list(c) for c in sizes],
                }
            try:
                export_tflite(
                    keras_model,
                    out,
                    quantize=quantize,
                    representative_dataset=dataset,
                    tile=tile,
                    float_ops=float_ops,
                    float_layers=float_layers,
                    float_image_layers=float_image_layers,
                    metadata=metadata,
                    source=source,
                    fallback=fallback,
                    info=info,
                    range_method=range_method,
                )
                if report is not None:
                    write_quantization_report(report, info)
            except tf.errors.OpError as error:
                # The converter's intermediate SavedModel goes to the system's
                # temporary folder, which can be full when `out`'s is not.
                translated = tf_write_error(out, error, temporary=tempfile.gettempdir())
                if translated is None:
                    raise
                raise translated from None
        metadata["size_bytes"] = _artifact_size(out)
        if verify is not None:
            from keras_enlca.export.verify import verify_artifact
            from keras_enlca.inference.loader import open_runner
            from keras_enlca.inference.tiling import DEFAULT_TILE

            artifact = open_runner(out)
            metadata["verification"] = verify_artifact(
                artifact,
                reference,
                verify,
                scale=reference.scale,
                tile=verify_tile or DEFAULT_TILE,
            )
            check_drop(metadata["verification"], max_drop, out)
        write_metadata(metadata_path(out), metadata)
    except BaseException:
        if _stat_key(out) != before:  # this call wrote it: no half export stays
            _remove_artifact(out)
        raise
    return metadata
