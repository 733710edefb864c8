"""`L2_NORMALIZATION` ops of a `.tflite` model written out as plain arithmetic.

The layers normalise with `layers.l2_normalize` (`x * rsqrt(max(sum(x ** 2),
eps ** 2))`), but the TFLite converter's optimize pass recognises that
arithmetic and fuses it back into one `L2_NORMALIZATION` op whenever the
epsilon is small (measured on TF 2.21: `x * rsqrt(...)`, `x / sqrt(...)` and
`x * pow(..., -0.5)` all fuse; `rsqrt(...) * x`, `x * x` for the square, or
an epsilon of 1e-2 do not). Neither the TFLite GPU delegate nor LiteRT.js's
WebGPU backend has a kernel for that op: the ENLCA and NLSA layers would run
on the CPU. `unfuse_l2_normalization` replaces every float `L2_NORMALIZATION`
of a converted flatbuffer by

    SQUARE -> SUM(last axis, keep_dims) -> MAXIMUM(eps ** 2) -> RSQRT -> MUL

which every LiteRT delegate runs. With the default epsilon (LiteRT's own
`L2_NORMALIZATION` kernel floor, `max(|x|, 1e-6)`) the outputs equal the
fused op's within float rounding.
"""

import numpy as np

from keras_enlca.export.quantizer import tensor_name

# LiteRT's L2_NORMALIZATION kernel divides by max(|x|, 1e-6)
# (tflite/kernels/internal/reference/l2normalization.h).
KERNEL_EPSILON = 1e-6


def _opcode_index(model, builtin):
    from ai_edge_litert import schema_py_generated as schema

    for index, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return index
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)
    code.version = 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _new_tensor(model, graph, name, like, last_dim=None, data=None, shape=None):
    """Appends a float32/int32 tensor (a constant when `data` is given)."""
    from ai_edge_litert import schema_py_generated as schema

    tensor = schema.TensorT()
    tensor.name = name
    if shape is not None:
        tensor.shape = np.array(shape, dtype=np.int32)
    else:
        tensor.shape = np.array(like.shape, dtype=np.int32)
        if like.shapeSignature is not None:
            tensor.shapeSignature = np.array(like.shapeSignature, dtype=np.int32)
        if last_dim is not None:
            tensor.shape[-1] = last_dim
            if tensor.shapeSignature is not None:
                tensor.shapeSignature[-1] = last_dim
    if data is None:
        tensor.type = schema.TensorType.FLOAT32
        tensor.buffer = 0
    else:
        tensor.type = (
            schema.TensorType.INT32
            if data.dtype == np.int32
            else schema.TensorType.FLOAT32
        )
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(data.tobytes(), dtype=np.uint8)
        model.buffers.append(buffer)
        tensor.buffer = len(model.buffers) - 1
    graph.tensors.append(tensor)
    return len(graph.tensors) - 1


def _operator(model, builtin, inputs, outputs, options_type=0, options=None):
    from ai_edge_litert import schema_py_generated as schema

    op = schema.OperatorT()
    op.opcodeIndex = _opcode_index(model, builtin)
    op.inputs = np.array(inputs, dtype=np.int32)
    op.outputs = np.array(outputs, dtype=np.int32)
    op.builtinOptionsType = options_type
    op.builtinOptions = options
    return op


def _arithmetic(model, graph, op, epsilon):
    """The five operators that replace one float `L2_NORMALIZATION`."""
    from ai_edge_litert import schema_py_generated as schema

    ops = schema.BuiltinOperator
    kinds = schema.BuiltinOptions
    source, target = int(op.inputs[0]), int(op.outputs[0])
    like = graph.tensors[source]
    base = tensor_name(like)
    rank = len(like.shape)
    squared = _new_tensor(model, graph, f"{base}/l2/square", like)
    summed = _new_tensor(model, graph, f"{base}/l2/sum", like, last_dim=1)
    floored = _new_tensor(model, graph, f"{base}/l2/maximum", like, last_dim=1)
    inverse = _new_tensor(model, graph, f"{base}/l2/rsqrt", like, last_dim=1)
    axis = _new_tensor(
        model, graph, f"{base}/l2/axis", like, data=np.array([rank - 1], np.int32)
    )
    axis_tensor = graph.tensors[axis]
    axis_tensor.shape = np.array([1], dtype=np.int32)
    axis_tensor.shapeSignature = None
    floor = _new_tensor(
        model,
        graph,
        f"{base}/l2/epsilon",
        like,
        data=np.array(epsilon**2, np.float32),
        shape=[],
    )
    reducer = schema.ReducerOptionsT()
    reducer.keepDims = True
    mul = schema.MulOptionsT()
    return [
        _operator(
            model,
            ops.SQUARE,
            [source],
            [squared],
            kinds.SquareOptions,
            schema.SquareOptionsT(),
        ),
        _operator(
            model, ops.SUM, [squared, axis], [summed], kinds.ReducerOptions, reducer
        ),
        _operator(
            model,
            ops.MAXIMUM,
            [summed, floor],
            [floored],
            kinds.MaximumMinimumOptions,
            schema.MaximumMinimumOptionsT(),
        ),
        _operator(model, ops.RSQRT, [floored], [inverse]),
        # rsqrt first: `x * rsqrt` is the order the converter fuses.
        _operator(model, ops.MUL, [inverse, source], [target], kinds.MulOptions, mul),
    ]


def unfuse_l2_normalization(content, epsilon=KERNEL_EPSILON):
    """`content` with every float `L2_NORMALIZATION` written as arithmetic.

    Args:
        content: bytes of a `.tflite` model.
        epsilon: the smallest norm divided by (default: LiteRT's kernel's,
            so the outputs equal the fused op's).

    Returns:
        `(bytes, count)`: the model (the same bytes when it holds no such
        op) and how many ops were replaced. Quantised (int8) or fused-
        activation `L2_NORMALIZATION` ops are left as they are.
    """
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    content = bytes(content)
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    l2 = schema.BuiltinOperator.L2_NORMALIZATION
    count = 0
    for graph in model.subgraphs:
        operators = []
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            options = op.builtinOptions
            if (
                max(code.builtinCode, code.deprecatedBuiltinCode) == l2
                and graph.tensors[int(op.inputs[0])].type == schema.TensorType.FLOAT32
                and getattr(options, "fusedActivationFunction", 0) == 0
            ):
                operators.extend(_arithmetic(model, graph, op, epsilon))
                count += 1
            else:
                operators.append(op)
        graph.operators = operators
    if not count:
        return content, 0
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), count
