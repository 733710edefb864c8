"""Fully integer TFLite (`--quantize int8-full`): no float op, for NPUs.

The default `int8` export keeps in float what attention needs, the
image ends, the residual adds and the uint8 <-> float conversions of the serving
graph, so integer-only accelerators (NPUs, DSPs, Edge TPU-like delegates)
run it partly on the CPU. `convert_fully_integer` makes a model whose
every op is integer:

- the graph converted is `integer_serving_function`: float [0, 1] in,
  `clip(network, 0, 1)` out; with `TFLITE_BUILTINS_INT8` only;
- the model is calibrated once (`quantizer.calibrate`), sigmoid inputs
  clamped where the int8 sigmoid saturates
  (`quantizer.clamp_saturating_ranges`), the ranges at both ends pinned to
  the pixel grid (`pin_boundary_ranges`), every other activation range
  shrunk to least int8 error (`activation_ranges.narrow_ranges`, as the
  default export), bilinear upsampling by 3 traced as transposed
  convolutions (`transposed_bilinear`), then everything is quantised to int8
  and every convolution's bias corrected for the mean shift of its own
  quantisation (`bias_correction.correct_biases`)
  (`quantizer.quantize_calibrated` with nothing kept float);
- the float input and output become uint8 (`modify_model_io_type`): with
  the pinned ranges their scale is exactly 1/255 and their zero point 0,
  so the uint8 tensors hold the pixels themselves, as every export of this
  package, and the only boundary ops are integer requantisations
  (QUANTIZE uint8 <-> int8).

Pinning the boundary is what keeps the image ends integer without loss:
the input is exactly [0, 1] and the output exactly [0, 1] (values beyond
are clipped by the graph anyway), and the ranges of the ops between the
last sum and the clip (A2N: `skip_add` -> `x / 255` -> clip) are the
clip's range mapped back through those ops, so their int8 grid is the
output's pixel grid (the skip sum gets one int8 step per pixel level
instead of 1.04 steps from its calibrated [-4, 264]). Measured in
docs/guides/quantization.md (`benchmarks/export.py`, variant `int8_npu`):
the authors' A2N x3 loses 0.134 dB against float32 (0.150 without the bias
correction, 0.245 with TFLite's int8 RESIZE_BILINEAR for its x3 skip as
well, 0.260 unpinned too).

What does not become integer fails with one line before anything is
written (`check_fully_integer`): ENLCA's SQUARE and NLSA's NEG and
CONCATENATION have no int8 kernel, and a model failing at run time (a
quantised divisor at its zero point) is caught by one trial run.
"""

import contextlib
import os
import tempfile

import numpy as np

from keras_enlca.export.quantizer import op_type
from keras_enlca.export.quantizer import tensor_name

# The `--quantize` value of this export.
INT8_FULL = "int8-full"
# Name scopes of the fully integer serving graph's own ops.
INTEGER_INPUT_SCOPE = "enlca_integer_in"
INTEGER_OUTPUT_SCOPE = "enlca_integer_out"
# Ops through which the output range is mapped back (see
# `pin_boundary_ranges`): clips keep it, a scalar MUL divides it.
_CLIP_OPS = ("RELU", "RELU_0_TO_1", "RELU_N1_TO_1", "RELU6", "MINIMUM", "MAXIMUM")


def integer_serving_function(model, tile=None):
    """A `tf.function`: float32 [0, 1] images in, the clipped output out.

    The input `(1, height, width, 3)` (fixed by `tile`) and the output
    `clip(model(x), 0, 1)` are both pixels / 255 once quantised with the
    ranges `pin_boundary_ranges` sets.
    """
    import tensorflow as tf

    from keras_enlca.export.saved_model import _input_shape

    @tf.function(
        input_signature=[tf.TensorSpec(_input_shape(tile, 1), tf.float32, "images")]
    )
    def serve(images):
        with tf.name_scope(INTEGER_INPUT_SCOPE):
            x = tf.identity(images)
        y = model(x, training=False)
        with tf.name_scope(INTEGER_OUTPUT_SCOPE):
            y = tf.clip_by_value(tf.cast(y, tf.float32), 0.0, 1.0)
        return {"upscaled": y}

    return serve


def _constant(model, tensor):
    """The scalar value of a constant tensor, or None."""
    data = model.buffers[tensor.buffer].data if tensor.buffer else None
    if data is None or not len(data) or tensor.type != 0:  # 0: FLOAT32
        return None
    values = np.frombuffer(bytes(bytearray(data)), dtype=np.float32)
    if values.size == 0 or not np.all(values == values.flat[0]):
        return None
    return float(values.flat[0])


def _set_range(tensor, low, high):
    q = tensor.quantization
    if q is None or q.min is None or len(q.min) != 1:
        return False
    q.min[0], q.max[0] = float(low), float(high)
    return True


def pin_boundary_ranges(calibrated):
    """Sets the calibrated ranges at both ends of the graph to [0, 1].

    The input and output get `[0, 1]`; walking back from the output, the
    input of each clip (`_CLIP_OPS` with a constant operand) keeps the
    range, and the input of a MUL by a positive scalar constant `c` gets
    the range divided by `c`, up to the first other op.

    Returns:
        `(calibrated bytes, [names of the tensors pinned])`.
    """
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(calibrated))
    graph = model.subgraphs[0]
    producers = {}
    for op in graph.operators:
        for index in op.outputs:
            producers[int(index)] = op
    pinned = []
    for index in list(graph.inputs) + list(graph.outputs):
        if _set_range(graph.tensors[index], 0.0, 1.0):
            pinned.append(tensor_name(graph.tensors[index]))
    index, low, high = int(graph.outputs[0]), 0.0, 1.0
    while index in producers:
        op = producers[index]
        kind = op_type(model, op)
        inputs = [int(i) for i in op.inputs if i >= 0]
        variable = [i for i in inputs if _constant(model, graph.tensors[i]) is None]
        constants = [
            _constant(model, graph.tensors[i]) for i in inputs if i not in variable
        ]
        if len(variable) != 1:
            break
        if kind == "MUL" and len(constants) == 1 and constants[0] > 0:
            low, high = low / constants[0], high / constants[0]
        elif kind not in _CLIP_OPS:
            break
        index = variable[0]
        if not _set_range(graph.tensors[index], low, high):
            break
        pinned.append(tensor_name(graph.tensors[index]))
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), pinned


def float_tensors(content):
    """`[(op type, output name)]` of ops computing in float32 in `content`."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    found = []
    for graph in model.subgraphs:
        for op in graph.operators:
            tensors = [graph.tensors[i] for i in list(op.outputs) if i >= 0]
            if any(t.type == schema.TensorType.FLOAT32 for t in tensors):
                found.append((op_type(model, op), tensor_name(tensors[0])))
    return found


def _calibration_inputs(representative_dataset):
    """The float [0, 1] inputs of a uint8 `representative_dataset`."""
    dataset = getattr(representative_dataset, "input_gen", representative_dataset)
    return [np.asarray(sample[0], dtype=np.float32) / 255.0 for sample in dataset()]


@contextlib.contextmanager
def transposed_bilinear(model):
    """Traces `model`'s bilinear `ResizeUpsampling` layers whose scale is
    not a power of two as transposed convolutions while the block runs
    (their `implementation`, restored after); yields their names.

    TFLite's int8 `RESIZE_BILINEAR` kernel maps output to input pixels in
    fixed point; at x3 its error grows with the position (a photo's x3
    skip against float: 53.8, 50.7, 42.6 dB PSNR at 48, 84, 160 pixels),
    where the int8 transposed convolutions give 59.2 dB at every size: the
    authors' A2N x3 lost 0.245 dB in int8-full, 0.150 dB with the swap. At
    x2 and x4 the kernel is exact (59.0 dB at every size) and the
    transposed convolutions are not (their int8 weights 0.75 or 0.875 do
    not sum to one: 53-57 dB), so those layers keep the resize.
    """
    from keras_enlca.layers.resize_upsampling import ResizeUpsampling
    from keras_enlca.utils.sublayers import sublayers

    layers = [
        layer
        for layer in sublayers(model)
        if isinstance(layer, ResizeUpsampling)
        and layer.interpolation == "bilinear"
        and layer.scale & (layer.scale - 1)  # not a power of two
    ]
    before = [layer.implementation for layer in layers]
    try:
        for layer in layers:
            layer.implementation = "transposed_conv"
        yield [layer.name for layer in layers]
    finally:
        for layer, implementation in zip(layers, before):
            layer.implementation = implementation


def _converter(model, folder, tile, info=None):
    import keras
    import tensorflow as tf

    from keras_enlca.export.saved_model import float32_model

    model = float32_model(model)
    archive = keras.export.ExportArchive()
    archive.track(model)
    saved = os.path.join(folder, "saved_model")
    with transposed_bilinear(model) as names:
        archive.add_endpoint("serving_default", integer_serving_function(model, tile))
        archive.write_out(saved, verbose=False)
    if info is not None:
        info["transposed_bilinear"] = names
    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved, signature_keys=["serving_default"]
    )
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter


def convert_fully_integer(
    model, representative_dataset, tile=None, range_method="mse", info=None
):
    """A fully integer `.tflite` (uint8 pixels in and out, int8 inside).

    Args:
        model: a Keras super-resolution model ([0, 1] in and out).
        representative_dataset: a callable yielding `[uint8 (1, h, w, 3)]`
            (see `calibration.representative_dataset`).
        tile: None (any input size) or `(height, width)`.
        range_method: `"mse"` (default) or `"minmax"`, as for `int8`.
        info: a dict filled with `clamped_ranges`, `pinned_ranges`,
            `narrowed_ranges`, `range_method`, `transposed_bilinear`,
            `bias_correction` and `recipe`.

    Returns:
        The flatbuffer bytes.

    Raises:
        InputError: an op stays float or the model fails at run time.
    """
    import tensorflow as tf
    from tensorflow.lite.python.util import modify_model_io_type

    from keras_enlca.export.activation_ranges import narrow_ranges
    from keras_enlca.export.bias_correction import correct_biases
    from keras_enlca.export.quantizer import calibrate
    from keras_enlca.export.quantizer import clamp_saturating_ranges
    from keras_enlca.export.quantizer import quantize_calibrated

    info = {} if info is None else info
    inputs = _calibration_inputs(representative_dataset)
    with tempfile.TemporaryDirectory(prefix="enlca-int8-full-") as folder:
        converter = _converter(model, folder, tile, info)
        converter.representative_dataset = lambda: ([x] for x in inputs)
        calibrated = calibrate(converter)
    calibrated, clamped = clamp_saturating_ranges(calibrated, "int8")
    calibrated, pinned = pin_boundary_ranges(calibrated)
    info.update(clamped_ranges=clamped, range_method=range_method)
    info["pinned_ranges"] = pinned
    if range_method == "mse":
        keep = [row["tensor"] for row in clamped] + pinned
        calibrated, info["narrowed_ranges"] = narrow_ranges(
            calibrated, inputs, bits=8, keep=keep
        )
    content = quantize_calibrated(calibrated, "int8")
    content = bytes(modify_model_io_type(content, tf.uint8, tf.uint8))
    info["recipe"] = fully_integer_recipe(range_method)
    # A float op or a run-time failure is one line before any other run.
    check_fully_integer(content, inputs[0])
    pixels = [np.floor(x * 255.0 + 0.5).astype(np.uint8) for x in inputs]
    content, info["bias_correction"] = correct_biases(content, calibrated, pixels)
    return content


def fully_integer_recipe(range_method):
    """The metadata `recipe` of an `int8-full` export."""
    return {
        "name": INT8_FULL,
        "quantizer": "tflite-mlir",
        "activations": "int8",
        "weights": "int8 per-channel",
        "float_ops": [],
        "float_layers": [],
        "io": "uint8 pixels (scale 1/255, zero point 0)",
        "ranges": range_method,
        "pinned": "input and output [0, 1], clip chain mapped back",
        "bias_correction": "empirical, per output channel of every int8 convolution",
    }


def int8_recipe(range_method, float_ops, max_drop=None, residual_adds=True):
    """The metadata `recipe` of an `int8` export (float layers listed apart)."""
    layers = (
        "attention arithmetic, image ends"
        if max_drop is None
        else f"attention arithmetic, chosen by measured drop (max {max_drop:g} dB)"
    )
    return {
        "name": "int8",
        "quantizer": "tflite-mlir",
        "activations": "int8",
        "weights": "int8 per-channel",
        "float_ops": list(float_ops),
        "float_layers": layers + (", residual adds" if residual_adds else ""),
        "io": "uint8 pixels, converted in float",
        "ranges": range_method,
    }


def check_fully_integer(content, sample=None):
    """Raises `InputError` if an op of `content` computes in float32, or if
    the model fails on `sample` (a float [0, 1] `(1, h, w, 3)` array)."""
    from keras_enlca.errors import InputError

    found = float_tensors(content)
    if found:
        ops = sorted({op for op, _ in found})
        raise InputError(
            f"--quantize {INT8_FULL}: {len(found)} op(s) stay float32 "
            f"({', '.join(ops)}; first {found[0][1]}); use --quantize int8."
        )
    if sample is None:
        return
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=bytes(content))
    detail = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(detail["index"], sample.shape)
    interpreter.allocate_tensors()
    pixels = np.floor(np.clip(sample, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    interpreter.set_tensor(detail["index"], pixels)
    try:
        interpreter.invoke()
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise InputError(
            f"--quantize {INT8_FULL}: the integer model fails at run time ({first}); "
            "use --quantize int8."
        ) from None
