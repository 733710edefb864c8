"""`export_model`: a `.keras` file to a verified artifact of any format.

A dispatcher: `ExportOptions` checks every choice and the output before any
work; the reference model is loaded; the format's exporter (named in the
format table, `keras_enlca.inference.artifact_format`) writes the artifact
with the metadata inside; the artifact is verified on request and its JSON
written beside it. A failure after the write removes what this call wrote.
"""

import datetime
import os

from keras_enlca.errors import InputError
from keras_enlca.export.export_options import MIN_BYTES_PER_WEIGHT
from keras_enlca.export.export_options import ExportOptions
from keras_enlca.export.targets import DEFAULT_TARGET
from keras_enlca.export.targets import get_target
from keras_enlca.export.unknown_size_error import UnknownSizeError
from keras_enlca.inference.artifact_format import format_of_path
from keras_enlca.inference.artifact_format import get_format
from keras_enlca.inference.keras_runner import KerasRunner
from keras_enlca.inference.keras_runner import parameter_count
from keras_enlca.inference.metadata import metadata_path
from keras_enlca.inference.metadata import write_metadata
from keras_enlca.utils.outputs import check_writable


def base_metadata(
    model, fmt, scale, input_size, quantization, source, target=DEFAULT_TARGET
):
    """The metadata fields known before conversion (see `metadata`).

    `fmt` is a format name, `input_size` None or `(height, width)`,
    `target` a name of `export.targets.TARGETS`.
    """
    import keras
    import tensorflow as tf

    from keras_enlca.version import __version__

    batch = get_format(fmt).batch
    size = list(input_size) if input_size else None
    height, width = size or (None, None)
    target = get_target(target)
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
        "input_size": size,
        "tile": size,
        "target": target.name,
        "target_settings": target.settings(fmt),
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


def _reference(model, options):
    """The `KerasRunner` of the model to export, checked against `options`."""
    if not hasattr(model, "predict"):
        fmt = format_of_path(model).name
        if fmt != "keras":
            raise InputError(
                f"{model}: is a {fmt} model; export needs the .keras model."
            )
    reference = KerasRunner(model)
    reference.check_scale(options.scale)
    if os.path.abspath(options.out) == os.path.abspath(reference.path):
        raise InputError(
            f"--out {options.out}: would overwrite the model being exported."
        )
    per_weight = MIN_BYTES_PER_WEIGHT.get(options.quantize, 1)
    check_writable(
        options.out,
        option="--out",
        needed_bytes=per_weight * reference.model.count_params(),
    )
    return reference


def _verify(options, reference, metadata):
    """Measures the written artifact (`verify_artifact`); the drop gate."""
    from keras_enlca.export.verify import check_drop
    from keras_enlca.export.verify import verify_artifact
    from keras_enlca.inference.loader import open_runner
    from keras_enlca.inference.tiling import DEFAULT_TILE

    metadata["verification"] = verify_artifact(
        open_runner(options.out),
        reference,
        options.verify,
        scale=reference.scale,
        tile=options.verify_tile or DEFAULT_TILE,
    )
    check_drop(metadata["verification"], options.max_drop, options.out)


def export_model(model, out=None, options=None, **settings):
    """Exports a Keras super-resolution model and writes its metadata JSON.

    This is what `enlca export` runs.

    Args:
        model: a `.keras` path or a `keras.Model`.
        out: the artifact path (a `.tflite` or `.onnx` file, a SavedModel
            folder).
        options: an `ExportOptions` (then `out` and `settings` are not
            given).
        **settings: the fields of `ExportOptions` (`format`, `quantize`,
            `input_size`, `target`, `verify`, `scale`, `max_drop`, the int8
            choices...), checked by `ExportOptions.create`; `tile` is the
            deprecated name of `input_size`.

    Returns:
        The metadata dict (also written to `<out>.json`); a TFLite export's
        holds `gpu_fallback_ops`, `web_fallback_ops` and `gpu_placement`
        (`op_compatibility.placement_metadata`).

    Example:

    ```python
    export_model(
        "enlcn_small_x2.keras",
        "enlcn_x2_int8.tflite",
        quantize="int8",
        verify="Set5/HR",
    )
    export_model("enlcn_small_x2.keras", "enlcn_x2.onnx", format="onnx")
    ```
    """
    if options is None:
        options = ExportOptions.create(out, model=model, **settings)
    elif out is not None or settings:
        raise InputError("export_model: give either options or out and settings.")
    reference = _reference(model, options)
    source = options.source
    if source is None:
        path = reference.path
        source = os.path.abspath(path) if os.path.exists(path) else path
    metadata = base_metadata(
        reference.model,
        options.format,
        reference.scale,
        options.input_size,
        options.quantize,
        source,
        options.target,
    )
    exporter = options.artifact_format.load("exporter")
    before = _stat_key(options.out)
    try:
        exporter(reference.model, options, metadata, reference)
        metadata["size_bytes"] = _artifact_size(options.out)
        if options.verify is not None:
            _verify(options, reference, metadata)
        write_metadata(metadata_path(options.out), metadata)
    except UnknownSizeError as error:  # one line naming the model
        if _stat_key(options.out) != before:
            _remove_artifact(options.out)
        raise InputError(f"{source}: {error}") from None
    except BaseException:
        if _stat_key(options.out) != before:  # this call wrote it: nothing half
            _remove_artifact(options.out)
        raise
    return metadata
