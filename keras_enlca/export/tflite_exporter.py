"""The TFLite exporter: `ExportOptions` -> a `.tflite` file (see `tflite.py`)."""

import os
import tempfile

import tensorflow as tf

from keras_enlca.export.calibration import DEFAULT_PAIR_SIZE
from keras_enlca.export.calibration import calibration_crops
from keras_enlca.export.calibration import default_calibration_dir
from keras_enlca.export.calibration import read_calibration_images
from keras_enlca.export.calibration import representative_dataset
from keras_enlca.export.calibration import selection_pairs
from keras_enlca.export.calibration import tile_crop_count
from keras_enlca.export.calibration import used_crop_sizes
from keras_enlca.export.export_options import ATTENTION_LAYERS
from keras_enlca.export.float_fallback import pair_drop_measure
from keras_enlca.export.float_nodes import attention_layer_names
from keras_enlca.export.float_nodes import image_layer_names
from keras_enlca.export.op_compatibility import placement_metadata
from keras_enlca.export.quantization_report import write_quantization_report
from keras_enlca.export.saved_model import tf_write_error
from keras_enlca.export.tflite import convert_to_tflite
from keras_enlca.export.tflite import quantization_metadata
from keras_enlca.inference.metadata import embed_tflite_metadata
from keras_enlca.utils.atomic import atomic_path


def _calibration(options, reference):
    """`(representative dataset, fallback, metadata fields)` of an integer mode."""
    folder = (
        options.calibration
        if options.calibration is not None
        else default_calibration_dir()
    )
    size = options.input_size
    crop = [size] if size is not None else options.calibration_crop_size
    count = options.num_calibration_crops
    if size is not None:  # crops of the input size: the same pixels in all
        count = tile_crop_count(count, size, options.calibration_crop_size)
    images = read_calibration_images(folder)
    crops = calibration_crops(num_crops=count, crop_size=crop, images=images)
    fallback = None
    if options.quantize == "int8" and (
        options.max_drop is not None or options.report is not None
    ):
        pairs = selection_pairs(
            scale=reference.scale,
            images=images,
            size=min(size) if size is not None else DEFAULT_PAIR_SIZE,
        )
        fallback = {
            "measure": pair_drop_measure(reference, pairs, reference.scale),
            "max_drop": options.max_drop,
            "measure_all": options.report is not None,
        }
    sizes = used_crop_sizes(crops, size)
    fields = {
        "source": os.path.abspath(folder)
        if options.calibration is not None
        else "bundled sample images",
        "crops": len(crops),
        "crop_size": list(sizes[0]) if len(sizes) == 1 else [list(c) for c in sizes],
    }
    return representative_dataset(crops, size=size), fallback, fields


def export_tflite_artifact(model, options, metadata, reference):
    """Writes `options.out` as a `.tflite` (any quantization of `tflite.py`).

    The format's exporter for `export_model`: calibrates the integer modes
    (`options.calibration`, crops, the `--max-drop` measure on pairs),
    converts once with the options' int8 choices, embeds `metadata` (with
    the quantization fields added) and writes the file atomically; the
    `--report` table is written too. The GPU placement
    (`op_compatibility.placement_metadata`) is added to `metadata` after
    the write, for the JSON.
    """
    dataset, fallback, info = None, None, {}
    if options.integer:
        dataset, fallback, metadata["calibration"] = _calibration(options, reference)
    float_layers = options.float_layers
    if options.quantize == "int8":
        if float_layers == ATTENTION_LAYERS:
            float_layers = attention_layer_names(model)
        metadata["float_ops"] = list(options.float_ops or [])
        metadata["float_layers"] = list(float_layers or [])
        if options.float_image_layers:
            metadata["float_layers"] += image_layer_names(model)
    try:
        content = convert_to_tflite(
            model,
            quantize=options.quantize,
            representative_dataset=dataset,
            tile=options.input_size,
            float_ops=options.float_ops,
            float_layers=float_layers,
            float_image_layers=options.float_image_layers,
            source=metadata.get("source_model", "model"),
            fallback=fallback,
            info=info,
            range_method=options.range_method,
            float_residual_adds=options.float_residual_adds,
        )
    except tf.errors.OpError as error:
        # The converter's intermediate SavedModel goes to the system's
        # temporary folder, which can be full when `out`'s is not.
        translated = tf_write_error(options.out, error, temporary=tempfile.gettempdir())
        if translated is None:
            raise
        raise translated from None
    metadata.update(quantization_metadata(info))
    if options.report is not None:
        write_quantization_report(options.report, info)
    content = embed_tflite_metadata(content, metadata)
    with atomic_path(options.out) as tmp:
        with open(tmp, "wb") as f:
            f.write(content)
    # Which ops GPU delegates would leave on the CPU: in the JSON only (the
    # embedded metadata stays small), as `size_bytes` and `verification`.
    metadata.update(placement_metadata(content))
