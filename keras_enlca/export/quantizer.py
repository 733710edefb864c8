"""Post-training integer quantisation in two steps: calibrate, then quantise.

`calibrate` runs the float model on the representative dataset once and
returns a float `.tflite` that records each tensor's min and max;
`quantize_calibrated` turns it into an integer model with a given set of
nodes kept in float, in a few seconds, so that many choices of float
layers can be tried on one calibration (what `float_fallback` does).

Between the two, `clamp_saturating_ranges` fixes the one range that the
min/max calibration gets badly wrong on converged networks: the input of a
sigmoid (or tanh). Pixel attention (A2N's `att1`) computes
`x * sigmoid(conv(x))`; on the authors' A2N x3 that logit spans
[-15953, 17845] on the bundled photos, so one int8 step is 132 and every
logit in (-66, 66) becomes 0 (a gate of exactly 0.5): 0.32 of the 0.46 dB
that int8 lost there. Past `log(2 ** bits)` the integer sigmoid's output
cannot change (int8 LOGISTIC has the fixed output scale 1/256), so the
range is clamped to `SATURATION_LOGIT[activations]` without losing
anything the integer kernel can represent.
"""

import math

# Activation types: "int8" (int8 weights and activations) and "int16"
# (16x8: int16 activations, int8 weights).
ACTIVATIONS = ("int8", "int16")
# |logit| beyond which an integer sigmoid of that activation type is
# saturated (its output step is 2 ** -bits): log(2 ** bits), rounded up.
SATURATION_LOGIT = {
    "int8": math.ceil(math.log(2**8)),
    "int16": math.ceil(math.log(2**16)),
}
SATURATING_OPS = ("LOGISTIC", "TANH")


def calibrate(converter):
    """The calibrated float model (bytes) of a converter with a dataset.

    `converter` is a `tf.lite.TFLiteConverter` with `optimizations` and
    `representative_dataset` set; its op sets are kept.
    """
    converter.experimental_mlir_quantizer = True
    converter._experimental_calibrate_only = True
    return bytes(converter.convert())


def quantize_calibrated(calibrated, activations="int8", float_nodes=(), float_ops=()):
    """An integer model from a calibrated one (see `calibrate`).

    Args:
        calibrated: bytes of a calibrated float `.tflite`.
        activations: `"int8"` or `"int16"` (16x8: int16 activations, int8
            weights, int32/int64 biases).
        float_nodes: output tensor names of the ops kept in float32.
        float_ops: op types kept in float32 everywhere.

    Returns:
        The quantised flatbuffer (float32 model input and output: the
        uint8 conversions of the serving graph stay float ops).
    """
    from tensorflow.lite.python import convert

    if activations not in ACTIVATIONS:
        raise ValueError(
            f"activations must be one of {ACTIVATIONS}, got {activations!r}"
        )
    types = convert._types_pb2
    inference_type = (
        types.QUANTIZED_INT8 if activations == "int8" else types.QUANTIZED_INT16
    )
    return bytes(
        convert.mlir_quantize(
            calibrated,
            inference_type=inference_type,
            denylisted_ops=list(float_ops),
            denylisted_nodes=list(float_nodes),
        )
    )


def tensor_name(tensor):
    """The name of an unpacked tensor as `str` (flatbuffers give bytes)."""
    return tensor.name.decode() if isinstance(tensor.name, bytes) else tensor.name


def op_type(model, op):
    """The builtin op name (e.g. `"LOGISTIC"`) of an unpacked operator."""
    from ai_edge_litert import schema_py_generated as schema

    code = model.operatorCodes[op.opcodeIndex]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    names = {
        v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")
    }
    return names.get(builtin, f"BUILTIN_{builtin}")


def _tensor_readers(model, graph):
    """`{tensor index: {op types reading it}}` of one subgraph."""
    readers = {}
    for op in graph.operators:
        for index in op.inputs if op.inputs is not None else []:
            if index >= 0:
                readers.setdefault(int(index), set()).add(op_type(model, op))
    return readers


def clamp_saturating_ranges(calibrated, activations="int8"):
    """Clamps the calibrated range of every sigmoid or tanh input.

    A tensor read only by LOGISTIC or TANH ops gets its recorded min and
    max clamped to `[-L, L]`, `L = SATURATION_LOGIT[activations]`.

    Returns:
        `(calibrated bytes, [{"tensor", "op", "min", "max", "clamped_to"}])`
        for the tensors changed.
    """
    from ai_edge_litert.tools import flatbuffer_utils

    limit = float(SATURATION_LOGIT[activations])
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(calibrated))
    changed = []
    for graph in model.subgraphs:
        readers = _tensor_readers(model, graph)
        for index, ops in readers.items():
            if not ops or not ops <= set(SATURATING_OPS):
                continue
            q = graph.tensors[index].quantization
            if q is None or q.min is None or not len(q.min):
                continue
            low, high = float(min(q.min)), float(max(q.max))
            if low >= -limit and high <= limit:
                continue
            changed.append(
                {
                    "tensor": tensor_name(graph.tensors[index]),
                    "op": sorted(ops)[0],
                    "min": low,
                    "max": high,
                    "clamped_to": limit,
                }
            )
            for i in range(len(q.min)):
                q.min[i] = max(float(q.min[i]), -limit)
                q.max[i] = min(float(q.max[i]), limit)
    if not changed:
        return calibrated, []
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), changed


def clamp_saturating_scales(content, activations="int16"):
    """Narrows the scale of quantised sigmoid or tanh inputs in a model.

    The quantised counterpart of `clamp_saturating_ranges`, for models that
    TFLite quantises in one step (16x8): a symmetric int16 tensor read
    only by LOGISTIC or TANH gets the scale `L / 32767`,
    `L = SATURATION_LOGIT[activations]`, when its own is coarser. Kernels
    derive their rescaling from tensor scales when the interpreter
    prepares them, so the producer then saturates at `+-L`.

    Returns:
        `(content, [{"tensor", "op", "min", "max", "clamped_to"}])`.
    """
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    limit = float(SATURATION_LOGIT[activations])
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    changed = []
    for graph in model.subgraphs:
        readers = _tensor_readers(model, graph)
        for index, ops in readers.items():
            tensor = graph.tensors[index]
            q = tensor.quantization
            if (
                not ops
                or not ops <= set(SATURATING_OPS)
                or tensor.type != (schema.TensorType.INT16)
            ):
                continue
            if (
                q is None
                or q.scale is None
                or len(q.scale) != 1
                or (q.zeroPoint is not None and any(int(z) for z in q.zeroPoint))
            ):
                continue
            old = float(q.scale[0])
            new = limit / 32767.0
            if old <= new:
                continue
            changed.append(
                {
                    "tensor": tensor_name(tensor),
                    "op": sorted(ops)[0],
                    "min": -old * 32767,
                    "max": old * 32767,
                    "clamped_to": limit,
                }
            )
            q.scale[0] = new
    if not changed:
        return content, []
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), changed
