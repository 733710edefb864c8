"""TFLite export: float32, float16, dynamic-range and int8, builtin ops only.

Every variant takes uint8 RGB pixels and returns uint8 pixels: the graph
converted is `uint8_serving_function` (cast, `/ 255`, network, clip, round,
cast), so even the int8 model needs no quantisation parameters at its
boundary. The conversion allows LiteRT builtin ops only
(`supported_ops=[TFLITE_BUILTINS]`); an op that would need the Flex
delegate or a custom kernel raises `UnsupportedOpError` naming it, and the
converted flatbuffer is checked again before it is written.

Quantisation modes:

- `"none"`: float32 weights and activations.
- `"float16"`: float16 weights (dequantised at load time), float32 compute.
- `"dynamic"`: int8 weights; convolutions quantise their activations on the
  fly (hybrid kernels); everything else float32.
- `"int8"`: int8 weights and activations, calibrated on a representative
  dataset (random crops of calibration images), except what stays float:
  the ops inside the attention layers other than their convolutions
  (`float_layers`, default: every NLA, NLSA and ENLCA layer), the op types
  `float_ops` anywhere (default `SOFTMAX`, `BATCH_MATMUL`), the layers
  holding the image at both ends of the network (`float_image_layers`:
  input scaling and mean shift, the head convolution, last convolution,
  skips, output scaling), the ADD closing each residual block
  (`float_residual_adds`: the trunk's residual stream is not rounded to 8
  bits after every block, only each branch is) and the uint8 <-> float
  conversions. The model is calibrated once
  (`quantizer.calibrate`), the calibrated range of every sigmoid input is
  clamped to where the integer sigmoid saturates
  (`quantizer.clamp_saturating_ranges`: the cause of most of the loss on
  the authors' A2N, whose pixel-attention logits span +-17,845), every
  other activation range is shrunk to least quantisation error on the
  calibration crops (`range_method="mse"`, `activation_ranges`: min..max
  is set by rare outliers on converged networks), and
  `quantizer.quantize_calibrated` (the MLIR quantiser that
  `tf.lite.experimental.QuantizationDebugger` drives, with its
  `denylisted_ops` / `denylisted_nodes`) makes the integer model. With a
  `fallback` budget (`enlca export --max-drop`) the float layers besides
  the attention arithmetic are chosen by measured drop instead
  (`float_fallback`).
- `"int16x8"`: int16 activations, int8 weights (TFLite's
  `EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8`), through
  TFLite's own 16x8 quantiser with float fallback: ops without a 16x8
  kernel stay float (measured: DEPTH_TO_SPACE of the EDSR-family
  upsampler, ENLCA's SQUARE, DIV and L2_NORMALIZATION, the dynamic-shape
  arithmetic of the resizes); sigmoid inputs clamped on the quantised
  tensors. NLSN needs `--input-size` (its bucket arithmetic on the input size is
  not calibrated at dynamic sizes: a one-line error says so).

  Why: attention arithmetic cannot live on one 8-bit scale per tensor.
  ENLCA's exponentials reach ~1e7 next to the 1e-4 floor and its
  normaliser is a division: a fully int8 ENLCN fails at run time (the
  quantised denominator hits its zero point), and with only the division
  kept float it loses 1.3 dB; keeping SOFTMAX and BATCH_MATMUL float does
  not help ENLCA (its attention is EXP/FULLY_CONNECTED/SUM/DIV). NLSA's
  softmax is written as `exp(x - logsumexp)` and its hash codes are argmaxes
  of rotated embeddings. The image ends matter too: the quantiser gives
  A2N's `x * 255` after the input's `/ 255` the wrong scale (an all-zero
  bilinear skip, 21 dB lost), and an 8-bit activation grid on the output
  image adds its own rounding. The convolutions, which hold nearly all
  weights and compute, stay int8 (but the head convolution, 3 input
  channels). On converged weights (PSNR-Y on the bundled photos, against
  float32) the default int8 loses 0.088 dB (the authors' A2N x3), 0.026
  dB (ENLCN) and 0.025 dB (NLSN), where the residual stream in int8 and
  the head convolution in int8 lost 0.131, 0.100 and 0.096 dB
  (docs/guides/quantization.md); float16 0.000 dB, dynamic range <= 0.016
  dB. `enlca export
  --float-ops none` gives a fully quantised network for comparison.
"""

import os
import re
import tempfile

from keras_enlca.errors import InputError
from keras_enlca.export.activation_ranges import DEFAULT_RANGE_METHOD
from keras_enlca.export.activation_ranges import RANGE_METHODS
from keras_enlca.export.export_options import ATTENTION_LAYERS
from keras_enlca.export.export_options import DEFAULT_INT8_FLOAT_OPS
from keras_enlca.export.export_options import INTEGER_QUANTIZATIONS  # noqa: F401 - public here too
from keras_enlca.export.float_nodes import attention_layer_names
from keras_enlca.export.float_nodes import float_node_names
from keras_enlca.export.float_nodes import image_layer_names
from keras_enlca.export.float_nodes import residual_add_nodes
from keras_enlca.export.float_nodes import top_level_layer_names
from keras_enlca.export.l2_normalization_rewrite import unfuse_l2_normalization
from keras_enlca.export.quantization_report import finite_json
from keras_enlca.export.saved_model import check_tile
from keras_enlca.export.saved_model import write_serving_saved_model
from keras_enlca.export.unsupported_op_error import UnsupportedOpError
from keras_enlca.inference.metadata import QUANTIZATIONS
from keras_enlca.inference.metadata import embed_tflite_metadata
from keras_enlca.inference.metadata import metadata_path
from keras_enlca.inference.metadata import write_metadata
from keras_enlca.inference.tflite_flatbuffer import non_builtin_ops
from keras_enlca.inference.tflite_flatbuffer import tflite_operators  # noqa: F401 - public here too
from keras_enlca.utils.atomic import atomic_path
from keras_enlca.utils.native_output import quiet_native_output


def check_builtin_only(content, source="model"):
    """Raises `UnsupportedOpError` if `content` holds a Flex or custom op."""
    ops = non_builtin_ops(content)
    if ops:
        raise UnsupportedOpError(source, ops)


def _error_code_name(code):
    """`ConverterErrorData.ErrorCode` value -> name (e.g. `ERROR_NEEDS_FLEX_OPS`)."""
    try:
        from tensorflow.compiler.mlir.lite.metrics import converter_error_data_pb2

        return converter_error_data_pb2.ConverterErrorData.ErrorCode.Name(code)
    except Exception:  # noqa: BLE001 - moved or unknown: fall back to the text
        return str(code)


def _unsupported_from_converter_error(error, source):
    """An `UnsupportedOpError` from a converter error, or None."""
    ops, locations = [], {}
    for data in getattr(error, "errors", None) or []:
        code = _error_code_name(getattr(data, "error_code", None))
        name = getattr(getattr(data, "operator", None), "name", "") or ""
        if "NEEDS_FLEX_OPS" not in code and "NEEDS_CUSTOM_OPS" not in code:
            continue
        if not name or name in ops:
            continue
        ops.append(name)
        calls = getattr(getattr(data, "location", None), "call", None) or []
        for call in calls:
            where = getattr(call, "name", "") or ""
            where = where.split("@")[0]
            if where and "PartitionedCall" not in where:
                locations[name] = where
                break
    if not ops:
        # Parse the text form when the structured errors are missing.
        text = str(error)
        ops = sorted(
            set(
                re.findall(r"'(tf\.\w+)' op is neither a custom op nor a flex op", text)
            )
        )
    return UnsupportedOpError(source, ops, locations) if ops else None


def _quantize_int8(
    converter,
    model,
    float_ops,
    layer_names,
    whole_layers,
    fallback,
    range_method,
    residual_adds=True,
):
    """int8 conversion: calibrate once, clamp sigmoid inputs, set the
    ranges (`range_method`, see `activation_ranges`), quantise.

    `fallback` None: `whole_layers` stay float as given. Otherwise a dict
    with `measure` and `max_drop` (and `measure_all`): the float layers
    are chosen by `float_fallback.choose_float_layers`. `residual_adds`:
    the residual stream's ADDs (`residual_add_nodes`) stay float in both
    cases. Returns `(content, info)`.
    """
    from keras_enlca.export.activation_ranges import narrow_ranges
    from keras_enlca.export.float_fallback import choose_float_layers
    from keras_enlca.export.float_fallback import layer_nodes
    from keras_enlca.export.integer_model import int8_recipe
    from keras_enlca.export.quantizer import calibrate
    from keras_enlca.export.quantizer import clamp_saturating_ranges
    from keras_enlca.export.quantizer import quantize_calibrated

    calibrated, clamped = clamp_saturating_ranges(calibrate(converter), "int8")
    info = {"clamped_ranges": clamped, "range_method": range_method}
    info["recipe"] = int8_recipe(
        range_method, float_ops, fallback and fallback.get("max_drop"), residual_adds
    )
    if range_method == "mse":
        dataset = converter.representative_dataset
        inputs = [sample[0] for sample in getattr(dataset, "input_gen", dataset)()]
        calibrated, info["narrowed_ranges"] = narrow_ranges(
            calibrated, inputs, bits=8, keep=[row["tensor"] for row in clamped]
        )

    def quantize(nodes):
        return quantize_calibrated(calibrated, "int8", nodes, float_ops)

    # Structural float: the uint8 conversions, the attention arithmetic,
    # the residual stream.
    top_level = top_level_layer_names(model)
    blocks = [n for n in top_level if n not in whole_layers]
    residual = residual_add_nodes(calibrated, blocks) if residual_adds else {}
    info["float_residual_adds"] = list(residual)
    residual = list(residual.values())
    attention = [
        {"layer": name, "reason": "attention arithmetic (exp, division, softmax)"}
        for name in layer_names
    ]
    if fallback is None:
        nodes = float_node_names(calibrated, layer_names, whole_layers=whole_layers)
        info["float_layers"] = attention + [
            {"layer": name, "reason": "image end (default float_image_layers)"}
            for name in whole_layers
        ]
        return quantize(nodes + residual), info
    groups = layer_nodes(calibrated, top_level)
    result = choose_float_layers(
        quantize,
        fallback["measure"],
        groups,
        required=float_node_names(calibrated, layer_names) + residual,
        max_drop=fallback["max_drop"],
        measure_all=fallback.get("measure_all", False),
    )
    ranges = _layer_ranges(calibrated, groups)
    for row in result["table"]:
        row["calibrated_range"] = ranges.get(row["layer"])
    info["float_layers"] = attention + [
        {"layer": row["layer"], "reason": row["reason"]}
        for row in result["table"]
        if row["kept_float"]
    ]
    info["fallback"] = {key: value for key, value in result.items() if key != "content"}
    return result["content"], info


def _layer_ranges(calibrated, groups):
    """`{layer: [min, max]}` of the calibrated ranges of its op outputs."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(calibrated, 0)
    graph = model.Subgraphs(0)
    ranges = {}
    for i in range(graph.TensorsLength()):
        tensor = graph.Tensors(i)
        q = tensor.Quantization()
        if q is None or q.MinLength() == 0:
            continue
        ranges[tensor.Name().decode()] = (
            float(q.MinAsNumpy().min()),
            float(q.MaxAsNumpy().max()),
        )
    out = {}
    for layer, nodes in groups.items():
        values = [ranges[n] for n in nodes if n in ranges]
        if values:
            out[layer] = [min(v[0] for v in values), max(v[1] for v in values)]
    return out


def _quantize_int16x8(converter):
    """16x8 conversion (int16 activations, int8 weights), float fallback.

    The MLIR quantiser that `_quantize_int8` uses cannot make 16x8 models
    here (its int16 convolutions get a non-zero output zero point, which
    LiteRT refuses), so this is TFLite's own 16x8 path: ops without a 16x8
    kernel stay float (`TFLITE_BUILTINS` next to the 16x8 op set), with no
    per-node choice. The calibrated ranges of sigmoid inputs are clamped
    afterwards on the quantised tensors (`clamp_saturating_scales`).
    """
    import tensorflow as tf

    from keras_enlca.export.quantizer import clamp_saturating_scales

    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
        tf.lite.OpsSet.TFLITE_BUILTINS,
    ]
    try:
        content = bytes(converter.convert())
    except RuntimeError as error:
        found = re.search(r"Failed for tensor (\S+)", str(error))
        if "dynamic tensors" not in str(error) or not found:
            raise
        # NLSN's bucket arithmetic on the input size (e.g. `Minimum`) is
        # data at dynamic sizes, which this quantiser cannot calibrate.
        raise InputError(
            f"--quantize int16x8: TFLite's 16x8 quantiser cannot handle "
            f"{found.group(1)}, computed from the input size; export with "
            "--input-size H W."
        ) from None
    content, clamped = clamp_saturating_scales(content, "int16")
    return content, {"clamped_ranges": clamped}


def convert_to_tflite(
    model,
    quantize="none",
    representative_dataset=None,
    tile=None,
    float_ops=DEFAULT_INT8_FLOAT_OPS,
    float_layers=ATTENTION_LAYERS,
    float_image_layers=True,
    source="model",
    fallback=None,
    info=None,
    range_method=DEFAULT_RANGE_METHOD,
    float_residual_adds=True,
):
    """Converts `model` to a `.tflite` flatbuffer (bytes) with uint8 I/O.

    Args:
        model: a Keras model, NHWC float32 [0, 1] -> NHWC float32 [0, 1].
        quantize: one of `"none"`, `"float16"`, `"dynamic"`, `"int8"`.
        representative_dataset: for `"int8"`, a callable returning an
            iterable of `[uint8 array of shape (1, h, w, 3)]` samples (see
            `keras_enlca.export.calibration`).
        tile: None (dynamic height and width; resize the interpreter's
            input) or `(height, width)` to fix the input shape.
        float_ops: for `"int8"`, TFLite op types kept in float32 everywhere.
        float_layers: for `"int8"`, Keras layer names whose ops (except
            convolutions) stay in float32; `"attention"` (default) for all
            attention layers of the model, `()` for none.
        float_image_layers: for `"int8"`, keep the layers at both ends of
            the network that hold the image (`image_layer_names`: the
            3-channel layers and the head convolution) entirely in float32:
            the image is not rounded to an 8-bit activation grid before the
            output's own 8 bits, and input scalings such as A2N's `x * 255`
            after the `/ 255` of the uint8 input are not requantised (the
            quantiser mis-scales that pair: an all-zero bilinear skip).
        source: name of the model used in error messages.
        fallback: for `"int8"`, None (the float layers above), or a dict
            `{"measure": callable, "max_drop": dB}` (optional
            `"measure_all"`): the layers kept float besides the attention
            arithmetic are chosen by measured drop
            (`float_fallback.choose_float_layers`; `float_image_layers`
            is then ignored).
        range_method: for `"int8"`, how activation ranges are set from
            the calibration: `"mse"` (default: each range shrunk to least
            quantisation error, `activation_ranges.narrow_ranges`) or
            `"minmax"` (TFLite's recorded min and max).
        float_residual_adds: for `"int8"`, keep the ADD that ends each
            residual block (`residual_add_nodes`) in float32, so that the
            trunk's residual stream is not rounded to 8 bits after every
            block.
        info: a dict filled with what the integer modes did:
            `clamped_ranges`, `float_layers` (`{"layer", "reason"}`),
            `fallback` (the measured table and steps).

    Returns:
        The flatbuffer bytes (input `images` uint8 `(1, h, w, 3)`, output
        `upscaled` uint8 `(1, scale * h, scale * w, 3)`).

    Raises:
        UnsupportedOpError: the model needs a Flex or custom op.
    """
    import tensorflow as tf
    from tensorflow.lite.python.convert_phase import ConverterError

    if quantize not in QUANTIZATIONS:
        raise InputError(
            f"--quantize must be one of {', '.join(QUANTIZATIONS)}, got {quantize!r}."
        )
    if range_method not in RANGE_METHODS:
        raise InputError(
            f"range_method must be one of {', '.join(RANGE_METHODS)}, got "
            f"{range_method!r}."
        )
    if quantize in INTEGER_QUANTIZATIONS and representative_dataset is None:
        raise InputError(
            f"{quantize} quantisation needs calibration images (a representative "
            "dataset)."
        )
    info = {} if info is None else info
    if float_layers == ATTENTION_LAYERS:
        float_layers = attention_layer_names(model)
    tile = check_tile(tile)
    if quantize == "int8-full":  # its own serving graph (export.integer_model)
        from keras_enlca.export.integer_model import convert_fully_integer

        with quiet_native_output():
            content = convert_fully_integer(
                model, representative_dataset, tile, range_method, info
            )
        check_builtin_only(content, source)
        return content
    with tempfile.TemporaryDirectory(prefix="enlca-export-") as folder:
        saved = os.path.join(folder, "saved_model")
        write_serving_saved_model(model, saved, tile=tile, batch=1, include_float=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            saved, signature_keys=["serving_default"]
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif quantize == "dynamic":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        elif quantize in ("int8", "int16x8"):
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = representative_dataset
        try:
            with quiet_native_output():
                if quantize == "int8":
                    content, done = _quantize_int8(
                        converter,
                        model,
                        float_ops or (),
                        float_layers or (),
                        image_layer_names(model) if float_image_layers else (),
                        fallback,
                        range_method,
                        float_residual_adds,
                    )
                    info.update(done)
                elif quantize == "int16x8":
                    content, done = _quantize_int16x8(converter)
                    info.update(done)
                else:
                    content = converter.convert()
        except ConverterError as error:
            unsupported = _unsupported_from_converter_error(error, source)
            if unsupported is not None:
                raise unsupported from None
            raise
    # The converter fuses the layers' L2 arithmetic into L2_NORMALIZATION,
    # which no GPU delegate runs: write it out again (same outputs).
    content, _ = unfuse_l2_normalization(content)
    check_builtin_only(content, source)
    return content


# The fields of `convert_to_tflite`'s info that go into the metadata as they are.
_COPIED_INFO = (
    "clamped_ranges",
    "recipe",
    "pinned_ranges",
    "transposed_bilinear",
    "bias_correction",
    "range_method",
    "float_residual_adds",
    "narrowed_ranges",
)


def quantization_metadata(info):
    """The metadata fields of an integer export from `convert_to_tflite`'s info.

    `float_layers` (names), `float_layer_reasons` (`{layer: why}`),
    `clamped_ranges` (sigmoid
    inputs whose calibrated range was clamped), `range_method` and
    `narrowed_ranges` (int8: how many activation ranges the MSE choice
    shrank, see `activation_ranges`), `float_residual_adds` (int8: the
    layers whose closing ADD stays float), `transposed_bilinear`
    (int8-full: the bilinear layers traced as transposed convolutions),
    `bias_correction` (int8-full: `bias_correction.correct_biases`) and,
    with `--max-drop`,
    `fallback` (`max_drop`, `integer_drop`, `drop`, `reached`, `steps`);
    the per-layer table goes to `--report`.
    """
    if not info:
        return {}
    info = finite_json(info)
    out = {}
    if "float_layers" in info:
        out["float_layers"] = [row["layer"] for row in info["float_layers"]]
        out["float_layer_reasons"] = {
            row["layer"]: row["reason"] for row in info["float_layers"]
        }
    out.update({key: info[key] for key in _COPIED_INFO if key in info})
    if "fallback" in info:
        out["fallback"] = {
            key: value for key, value in info["fallback"].items() if key != "table"
        }
    return out


def export_tflite(
    model,
    path,
    quantize="none",
    representative_dataset=None,
    tile=None,
    float_ops=DEFAULT_INT8_FLOAT_OPS,
    float_layers=ATTENTION_LAYERS,
    float_image_layers=True,
    metadata=None,
    source="model",
    fallback=None,
    info=None,
    range_method=DEFAULT_RANGE_METHOD,
    float_residual_adds=True,
):
    """Exports `model` to a `.tflite` file with uint8 input and output.

    See `convert_to_tflite` for the arguments. The file is written
    atomically; `metadata` (a dict) is embedded in the flatbuffer and
    written beside it as `<path>.json`.

    Returns:
        The flatbuffer bytes that were written.

    Example:

    ```python
    model = keras_enlca.models.from_preset("enlcn_small_x2")
    export_tflite(model, "enlcn_x2_fp16.tflite", quantize="float16")
    runner = keras_enlca.inference.LiteRTRunner("enlcn_x2_fp16.tflite")
    sr = runner(np.random.rand(1, 40, 50, 3).astype("float32"))
    # sr.shape == (1, 80, 100, 3)
    ```
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise InputError(
            f"{path}: is a folder; a TFLite model is one file (e.g. model.tflite)."
        )
    info = {} if info is None else info  # its fields go into `metadata`
    content = convert_to_tflite(
        model,
        quantize=quantize,
        representative_dataset=representative_dataset,
        tile=tile,
        float_ops=float_ops,
        float_layers=float_layers,
        float_image_layers=float_image_layers,
        source=source,
        fallback=fallback,
        range_method=range_method,
        info=info,
        float_residual_adds=float_residual_adds,
    )
    if metadata is not None:
        metadata.update(quantization_metadata(info))
        content = embed_tflite_metadata(content, metadata)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(content)
    if metadata is not None:
        write_metadata(metadata_path(path), metadata)
    return content
