"""The ONNX exporter: `ExportOptions` -> a `.onnx` file for ONNX Runtime.

The graph converted is the one every format serves,
`saved_model.uint8_serving_function` (uint8 RGB in, cast, `/ 255`, network,
clip, round, uint8 out), translated by tf2onnx at opset
`targets.ONNX_OPSET`, with a dynamic batch and, unless `input_size` fixes
them, dynamic height and width. Keras's own `model.export(path,
format="onnx")` is the same route (it calls `tf2onnx.convert.from_function`
on the model's serving function) but exports the float [0, 1] model
without the uint8 ends, so the exporter converts our serving function
directly.

`quantize="float16"` stores every float32 weight of 16 or more values in
float16 with a `Cast` back to float32 in front of its users, as TFLite's
float16 mode does (half the file; ONNX Runtime folds the casts at load time
and computes in float32). Scalars stay float32.

tf2onnx writes TensorFlow's nearest-neighbour resize (A2N's upsampler) as
`Resize(coordinate_transformation_mode="tf_half_pixel_for_nn",
nearest_mode="floor")`, which ONNX Runtime 1.32 warns about as deprecated at
every session start; `modern_resize_attributes` rewrites it to the
identical `half_pixel` with `round_prefer_ceil` (`floor((x + 0.5) / s)` is
`round_half_up((x + 0.5) / s - 0.5)` for any scale `s`).

tf2onnx's einsum optimiser fails on ENLCA's `...nm,...m->...n` (it reads
the ellipsis as a letter); the failure is logged and the `Einsum` op stays,
which ONNX Runtime runs. The log is silenced here.
"""

import contextlib
import json
import logging

import numpy as np

from keras_enlca.export.saved_model import float32_model
from keras_enlca.export.saved_model import float_serving_function
from keras_enlca.export.saved_model import traced_for_any_size
from keras_enlca.export.saved_model import uint8_serving_function
from keras_enlca.export.targets import ONNX_OPSET
from keras_enlca.inference.metadata import METADATA_NAME
from keras_enlca.utils.atomic import atomic_path
from keras_enlca.utils.native_output import quiet_native_output

# Float weights smaller than this stay float32 in a float16 export
# (constants such as 255, epsilons, the mean shift).
MIN_FLOAT16_WEIGHT_SIZE = 16


@contextlib.contextmanager
def _quiet_tf2onnx():
    """Silences tf2onnx's Python logs (the einsum optimiser's traceback)."""
    logger = logging.getLogger("tf2onnx")
    level, logger.level = logger.level, logging.CRITICAL
    try:
        with quiet_native_output():
            yield
    finally:
        logger.setLevel(level)


def convert_to_onnx(model, input_size=None, opset=ONNX_OPSET, float_io=False):
    """Converts `model` to an ONNX `ModelProto` with uint8 input and output.

    Args:
        model: a Keras model, NHWC float32 [0, 1] -> NHWC float32 [0, 1].
        input_size: None (dynamic height and width) or `(height, width)`.
        opset: the ONNX opset.
        float_io: convert `saved_model.float_serving_function` instead (float32
            [0, 1] in, the raw float output out): to compare the conversion
            with Keras without 8-bit rounding.

    Returns:
        The `onnx.ModelProto`: input `images` uint8 `(N, H, W, 3)`, output
        `upscaled` uint8 `(N, scale * H, scale * W, 3)`.
    """
    import tf2onnx

    serving_function = float_serving_function if float_io else uint8_serving_function
    serve = serving_function(float32_model(model), input_size, batch=None)
    with traced_for_any_size(input_size):  # a one-line error, as every format
        serve.get_concrete_function()
    with _quiet_tf2onnx():
        proto, _ = tf2onnx.convert.from_function(
            serve, input_signature=serve.input_signature, opset=opset
        )
    modern_resize_attributes(proto)
    return proto


def modern_resize_attributes(proto):
    """Rewrites deprecated `tf_half_pixel_for_nn` resizes; returns how many."""
    changed = 0
    for node in proto.graph.node:
        if node.op_type != "Resize":
            continue
        attributes = {a.name: a for a in node.attribute}
        mode = attributes.get("coordinate_transformation_mode")
        nearest = attributes.get("nearest_mode")
        if mode is None or mode.s != b"tf_half_pixel_for_nn":
            continue
        if nearest is None or nearest.s != b"floor":
            continue
        mode.s, nearest.s = b"half_pixel", b"round_prefer_ceil"
        changed += 1
    return changed


def float16_weights(proto, min_size=MIN_FLOAT16_WEIGHT_SIZE):
    """Stores the float32 weights of `proto` (with `min_size` values or more)
    in float16, each behind a `Cast` to float32; returns how many."""
    from onnx import TensorProto
    from onnx import helper
    from onnx import numpy_helper

    graph = proto.graph
    casts, kept, converted = [], [], 0
    for weight in graph.initializer:
        if weight.data_type != TensorProto.FLOAT or np.prod(weight.dims) < min_size:
            kept.append(weight)
            continue
        half = numpy_helper.from_array(
            numpy_helper.to_array(weight).astype(np.float16), weight.name + "_fp16"
        )
        kept.append(half)
        casts.append(
            helper.make_node(
                "Cast",
                [half.name],
                [weight.name],
                to=TensorProto.FLOAT,
                name=weight.name + "_to_float32",
            )
        )
        converted += 1
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return converted


def embed_onnx_metadata(proto, metadata):
    """Stores `metadata` as the `keras_enlca` entry of `proto.metadata_props`."""
    entries = [p for p in proto.metadata_props if p.key != METADATA_NAME]
    del proto.metadata_props[:]
    proto.metadata_props.extend(entries)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_NAME, json.dumps(metadata)
    return proto


def export_onnx_artifact(model, options, metadata, reference):
    """Writes `options.out` as a `.onnx` model (float32 or float16 weights).

    The format's exporter for `export_model`: converts (`convert_to_onnx`),
    records the converter in `metadata`, embeds it and writes the file
    atomically.
    """
    import onnx
    import tf2onnx

    proto = convert_to_onnx(model, options.input_size)
    if options.quantize == "float16":
        float16_weights(proto)
    proto.producer_name = "keras-enlca (tf2onnx)"
    metadata["converter"] = {
        "name": "tf2onnx",
        "version": tf2onnx.__version__,
        "onnx_version": onnx.__version__,
        "opset": ONNX_OPSET,
    }
    embed_onnx_metadata(proto, metadata)
    with atomic_path(options.out) as tmp:
        onnx.save_model(proto, tmp)
