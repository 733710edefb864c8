"""Which ops of a `.tflite` model a GPU delegate would leave on the CPU.

Two runtimes, one table each (`RUNTIMES`), both read from LiteRT's source
at commit f67457790c9c (google-ai-edge/LiteRT, 2026-08-21):

- `"gpu"`: the TFLite GPU delegate of Android (OpenCL/OpenGL), the
  `NewOperationParser` switch of `tflite/delegates/gpu/common/model_builder.cc`
  (the same list as `tensorflow/lite/delegates/gpu/common/model_builder.cc`),
  with its tensor-type rule (`GetOpsToReplace`): every non-constant input
  and output must be float32/float16, or int8/uint8 with quantised ops
  enabled (the default), except the listed per-op extras (CAST, GATHER's
  int32 indices, SELECT's bool condition, comparisons' bool output). It has
  no kernel for L2_NORMALIZATION, ARG_MAX or TOPK_V2 and rejects dynamic
  tensors (tensorflow#47168, #58660).
- `"web"`: LiteRT.js's WebGPU backend, ML Drift: the switch of
  `ml_drift_delegate/tflite/model_builder.cc` (which has ARG_MAX, GATHER
  and TOPK_V2, not L2_NORMALIZATION), less DEQUANTIZE, which headless
  Chromium with `@litertjs/core` 2.5.3 placed on the CPU (float16 exports;
  `/work/shared/DESIGN.md` stack facts). LiteRT.js runs fixed input shapes
  only. The tensor-type rule is not applied (ML Drift takes int32 in most
  ops).

An op is a fallback when its type is not in the table, a non-constant
tensor has a dynamic (-1) dimension, or (`"gpu"`) one has a type the
delegate refuses. The tables are a necessary condition, not the delegates' every
parameter check (versions, broadcast shapes). LiteRT's own analysis,
`tf.lite.experimental.Analyzer(gpu_compatibility=True)`, is recorded beside
them (`analyzer_report`); on TF 2.21 it called every export compatible,
NLSN's ARG_MAX and TOPK_V2 included, so the tables decide.
"""

from ai_edge_litert import schema_py_generated as schema

# tflite/delegates/gpu/common/model_builder.cc, NewOperationParser.
GPU_DELEGATE_OPS = frozenset(
    """ABS ADD ADD_N AVERAGE_POOL_2D BATCH_MATMUL CAST CONCATENATION CONV_2D COS
    CUMSUM DENSIFY DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE DIV ELU EQUAL EXP
    FLOOR FLOOR_DIV FLOOR_MOD FULLY_CONNECTED GATHER GELU GREATER GREATER_EQUAL
    HARD_SWISH LEAKY_RELU LESS LESS_EQUAL LOG LOGICAL_AND LOGISTIC LSTM MAXIMUM
    MAX_POOL_2D MEAN MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL ONE_HOT PACK PAD PADV2
    POW PRELU QUANTIZE REDUCE_MAX REDUCE_MIN REDUCE_PROD RELU RELU6 RELU_0_TO_1
    RELU_N1_TO_1 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR RSQRT SELECT
    SELECT_V2 SIGN SIN SLICE SOFTMAX SPACE_TO_DEPTH SPLIT SPLIT_V SQRT SQUARE
    SQUARED_DIFFERENCE STRIDED_SLICE SUB SUM TANH TILE TRANSPOSE TRANSPOSE_CONV
    UNPACK""".split()
)
# Its types of non-constant tensors (GetOpsToReplace, quantised ops on).
GPU_TENSOR_TYPES = frozenset({"FLOAT32", "FLOAT16", "INT8", "UINT8"})
_COMPARISONS = ("EQUAL", "NOT_EQUAL", "GREATER", "GREATER_EQUAL", "LESS", "LESS_EQUAL")
# Per-op extra (input types, output types) of that rule.
GPU_EXTRA_TENSOR_TYPES = {
    "CAST": ({"BOOL", "INT32"}, {"BOOL", "INT32"}),
    "GATHER": ({"INT32"}, set()),
    "ONE_HOT": ({"INT32"}, set()),
    "SELECT": ({"BOOL"}, set()),
    "SELECT_V2": ({"BOOL"}, set()),
    "LOGICAL_AND": ({"BOOL"}, {"BOOL"}),
    **{name: (set(), {"BOOL"}) for name in _COMPARISONS},
}

# ml_drift_delegate/tflite/model_builder.cc, NewOperationParser, less the
# ops measured on the CPU in LiteRT.js's WebGPU backend.
WEB_MEASURED_CPU_OPS = frozenset({"DEQUANTIZE"})
WEB_GPU_OPS = (
    frozenset(
        """ABS ADD ADD_N ARG_MAX ATAN2 AVERAGE_POOL_2D BATCH_MATMUL BITCAST
        BITWISE_XOR CAST CEIL CONCATENATION CONV_2D COS CUMSUM DEPTH_TO_SPACE
        DEPTHWISE_CONV_2D DEQUANTIZE DIV DYNAMIC_UPDATE_SLICE ELU
        EMBEDDING_LOOKUP EQUAL EXP FLOOR FLOOR_DIV FLOOR_MOD FULLY_CONNECTED
        GATHER GELU GREATER GREATER_EQUAL HARD_SWISH LEAKY_RELU LESS LESS_EQUAL
        LOG LOGICAL_AND LOGICAL_NOT LOGICAL_OR LOGISTIC LSTM MAXIMUM MAX_POOL_2D
        MEAN MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL ONE_HOT PACK PAD PADV2 POW
        PRELU QUANTIZE REDUCE_ALL REDUCE_ANY REDUCE_MAX REDUCE_MIN REDUCE_PROD
        RELU RELU6 RELU_0_TO_1 RELU_N1_TO_1 RESHAPE RESIZE_BILINEAR
        RESIZE_NEAREST_NEIGHBOR REVERSE_V2 RIGHT_SHIFT ROUND RSQRT SELECT
        SELECT_V2 SIGN SIN SLICE SOFTMAX SPACE_TO_DEPTH SPLIT SPLIT_V SQRT SQUARE
        SQUARED_DIFFERENCE STRIDED_SLICE SUB SUM TANH TILE TOPK_V2 TRANSPOSE
        TRANSPOSE_CONV UNPACK""".split()
    )
    - WEB_MEASURED_CPU_OPS
)

# runtime -> (supported op types, whether the tensor-type rule applies)
RUNTIMES = {
    "gpu": (GPU_DELEGATE_OPS, True),
    "web": (WEB_GPU_OPS, False),
}
# The metadata key of each runtime's fallback op names.
FALLBACK_KEYS = {"gpu": "gpu_fallback_ops", "web": "web_fallback_ops"}


def _names(enum):
    return {v: k for k, v in vars(enum).items() if not k.startswith("_")}


def model_operators(content):
    """Every operator of a `.tflite` model with what the tables look at.

    Args:
        content: bytes of a `.tflite` model, or its path.

    Returns:
        A list of dicts `{"op", "inputs", "outputs", "dynamic"}`: the op
        type, the types of its non-constant input and output tensors, and
        whether one of those has a dynamic (-1) dimension.
    """
    if not isinstance(content, (bytes, bytearray)):
        with open(content, "rb") as f:
            content = f.read()
    model = schema.Model.GetRootAsModel(bytes(content), 0)
    ops, types = _names(schema.BuiltinOperator), _names(schema.TensorType)

    def constant(tensor):
        buffer = model.Buffers(tensor.Buffer()) if tensor.Buffer() else None
        return buffer is not None and (buffer.DataLength() or buffer.Offset() > 1)

    operators = []
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        for o in range(graph.OperatorsLength()):
            op = graph.Operators(o)
            code = model.OperatorCodes(op.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            entry = {"op": ops.get(builtin, f"BUILTIN_{builtin}"), "dynamic": False}
            if builtin == schema.BuiltinOperator.CUSTOM:
                entry["op"] = (code.CustomCode() or b"CUSTOM").decode()
            for side, length, get in (
                ("inputs", op.InputsLength(), op.Inputs),
                ("outputs", op.OutputsLength(), op.Outputs),
            ):
                entry[side] = []
                for i in range(length):
                    index = get(i)
                    if index < 0:
                        continue
                    tensor = graph.Tensors(index)
                    if constant(tensor):
                        continue
                    entry[side].append(types.get(tensor.Type(), str(tensor.Type())))
                    signature = tensor.ShapeSignatureAsNumpy()
                    if tensor.ShapeSignatureLength() and (signature < 0).any():
                        entry["dynamic"] = True
            operators.append(entry)
    return operators


def fallback_reason(operator, runtime):
    """Why `operator` (from `model_operators`) would run on the CPU, or None."""
    supported, strict = RUNTIMES[runtime]
    name = operator["op"]
    if name not in supported:
        return "no kernel"
    if operator["dynamic"]:
        return "dynamic tensor"
    if not strict:
        return None
    extra_in, extra_out = GPU_EXTRA_TENSOR_TYPES.get(name, (set(), set()))
    if (
        not set(operator["inputs"]) <= GPU_TENSOR_TYPES | extra_in
        or not set(operator["outputs"]) <= GPU_TENSOR_TYPES | extra_out
    ):
        return "tensor type"
    return None


def placement(content, runtime):
    """What `runtime` would place on the GPU, by its table.

    Returns:
        A dict: `ops` (count), `on_gpu` (ops with a GPU kernel), `share`
        (`on_gpu / ops`), `partitions` and `largest_partition` (runs of
        consecutive GPU ops in execution order, and the longest: what the
        Android delegate's default `max_delegated_partitions=1` would
        delegate, before its own reordering), `whole` (every op on the
        GPU) and `fallback` (`{op type: {"count", "reason"}}`).
    """
    operators = model_operators(content)
    fallback, runs, run = {}, [], 0
    for operator in operators:
        reason = fallback_reason(operator, runtime)
        if reason is None:
            run += 1
            continue
        runs.append(run)
        run = 0
        row = fallback.setdefault(operator["op"], {"count": 0, "reason": reason})
        row["count"] += 1
    runs.append(run)
    off = sum(row["count"] for row in fallback.values())
    total = len(operators)
    return {
        "ops": total,
        "on_gpu": total - off,
        "share": round((total - off) / total, 4) if total else 1.0,
        "partitions": sum(1 for r in runs if r),
        "largest_partition": max(runs),
        "whole": not fallback,
        "fallback": dict(sorted(fallback.items())),
    }


def analyzer_report(content):
    """LiteRT's own GPU compatibility verdict (`tf.lite.experimental.Analyzer`).

    Returns:
        `{"compatible": bool, "warnings": [lines]}`, or None without
        TensorFlow.
    """
    import contextlib
    import io

    try:
        import tensorflow as tf
    except ImportError:
        return None
    if not isinstance(content, (bytes, bytearray)):
        with open(content, "rb") as f:
            content = f.read()
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        tf.lite.experimental.Analyzer.analyze(
            model_content=bytes(content), gpu_compatibility=True
        )
    lines = text.getvalue().splitlines()
    warnings = [line.strip() for line in lines if "GPU COMPATIBILITY" in line]
    compatible = any("looks compatible with GPU delegate" in line for line in lines)
    return {"compatible": compatible and not warnings, "warnings": warnings}


def placement_metadata(content, analyzer=True):
    """The metadata fields of an export's GPU placement.

    `gpu_fallback_ops` and `web_fallback_ops` (sorted op types that would
    run on the CPU under the TFLite GPU delegate and LiteRT.js WebGPU), and
    `gpu_placement`: per runtime the `placement` dict, plus `analyzer`
    (`analyzer_report`) when `analyzer`.
    """
    details = {runtime: placement(content, runtime) for runtime in RUNTIMES}
    out = {FALLBACK_KEYS[r]: sorted(details[r]["fallback"]) for r in RUNTIMES}
    if analyzer:
        details["analyzer"] = analyzer_report(content)
    out["gpu_placement"] = details
    return out


def fallback_warning(metadata, runtime):
    """A one-line warning when `runtime` would not run the export whole.

    `metadata` holds `placement_metadata`'s fields; None when it would.
    """
    details = metadata["gpu_placement"][runtime]
    if details["whole"]:
        return None
    ops = ", ".join(
        f"{name} x{row['count']} ({row['reason']})"
        for name, row in details["fallback"].items()
    )
    label = {"gpu": "the TFLite GPU delegate", "web": "LiteRT.js WebGPU"}[runtime]
    hint = ""
    if any(row["reason"] == "dynamic tensor" for row in details["fallback"].values()):
        hint = " Export with --tile H W: GPU delegates take fixed input sizes only."
    return (
        f"{details['ops'] - details['on_gpu']} of {details['ops']} ops would run on "
        f"the CPU under {label}: {ops}.{hint}"
    )
