"""Activation ranges chosen by quantisation error instead of min and max.

TFLite's calibration records each activation's min and max over the
representative dataset, and the integer quantiser spreads the 256 int8
levels over that whole range. On converged super-resolution networks a few
outliers set most ranges: on `enlcn_small_x2` trained 3,000 steps, 93 of
the 114 activation tensors have an int8 range whose quantisation error is
smallest at 0.4-0.9 of min..max, and the default int8 export lost 0.251 dB
PSNR-Y against float32; with the ranges below it loses 0.133 dB (same
calibration, same float layers).

`narrow_ranges` runs the calibrated float model in LiteRT on the
calibration inputs with every intermediate tensor kept, takes a sample of
each activation, and shrinks each recorded range `[min, max]` by the
fraction of `SHRINK_FRACTIONS` (or 1) that minimises the mean squared error
of quantising the sample to `bits` levels over it: the MSE calibration of
TensorRT and OpenVINO, with clipping traded against resolution on the data
itself.
"""

import numpy as np

from keras_enlca.export.quantizer import tensor_name

RANGE_METHODS = ("mse", "minmax")
DEFAULT_RANGE_METHOD = "mse"
SHRINK_FRACTIONS = tuple(round(1.0 - 0.05 * i, 2) for i in range(1, 17))  # .95-.2
# Values kept per tensor over the whole calibration set (memory stays at
# about 4 bytes x this x number of tensors, whatever the model's size).
SAMPLES_PER_TENSOR = 65536


def quantization_mse(values, low, high, bits=8):
    """Mean squared error of `values` quantised to `2 ** bits` levels.

    Asymmetric affine quantisation as TFLite's int8 activations: the range
    is extended to contain 0, zero point rounded, values outside clipped.
    """
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    levels = 2**bits - 1
    step = (high - low) / levels
    if step <= 0:
        return float(np.mean(np.square(values)))
    zero = np.round(-low / step)
    codes = np.clip(np.round(values / step) + zero, 0, levels)
    return float(np.mean(np.square((codes - zero) * step - values)))


def best_fraction(values, low, high, bits=8, fractions=SHRINK_FRACTIONS):
    """The fraction of `[low, high]` (1 or one of `fractions`) with least MSE."""
    best, best_error = 1.0, quantization_mse(values, low, high, bits)
    for fraction in fractions:
        error = quantization_mse(values, low * fraction, high * fraction, bits)
        if error < best_error:
            best, best_error = fraction, error
    return best


def _activation_tensors(model):
    """Indices of the subgraph's per-tensor calibrated activations."""
    graph = model.subgraphs[0]
    found = []
    for index, tensor in enumerate(graph.tensors):
        q = tensor.quantization
        if q is None or q.min is None or len(q.min) != 1:
            continue
        data = model.buffers[tensor.buffer].data if tensor.buffer else None
        if data is not None and len(data):
            continue  # a constant
        found.append(index)
    return found


def activation_samples(
    calibrated, inputs, indices, per_tensor=SAMPLES_PER_TENSOR, seed=0
):
    """`{tensor index: float32 sample}` of the activations on `inputs`.

    Args:
        calibrated: bytes of a calibrated float `.tflite`.
        inputs: a list of input arrays (one per run).
        indices: the tensors to sample (`_activation_tensors`).
        per_tensor: values kept per tensor over all inputs.
        seed: seed of the sampling.
    """
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_litert.interpreter import OpResolverType

    # Without the XNNPACK delegate: its fused partitions keep no intermediates.
    interpreter = Interpreter(
        model_content=bytes(calibrated),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        experimental_preserve_all_tensors=True,
    )
    detail = interpreter.get_input_details()[0]
    rng = np.random.default_rng(seed)
    per_input = max(per_tensor // max(len(inputs), 1), 1)
    samples = {index: [] for index in indices}
    for array in inputs:
        interpreter.resize_tensor_input(detail["index"], array.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(detail["index"], array.astype(detail["dtype"]))
        interpreter.invoke()
        for index in indices:
            try:
                values = interpreter.get_tensor(index)
            except ValueError:
                # Not materialised on this run (NLSN's shape arithmetic at
                # dynamic sizes): the tensor keeps its recorded range.
                continue
            if values.dtype != np.float32 or values.size == 0:
                continue
            values = values.ravel()
            if values.size > per_input:
                values = values[rng.integers(0, values.size, per_input)]
            samples[index].append(np.array(values, copy=True))
    return {index: np.concatenate(v) for index, v in samples.items() if v}


def narrow_ranges(calibrated, inputs, bits=8, keep=()):
    """The calibrated model with each activation range set by least MSE.

    Args:
        calibrated: bytes of a calibrated float `.tflite`.
        inputs: the calibration inputs (a list of arrays).
        bits: activation bits (8 for int8).
        keep: tensor names whose range is left as recorded (e.g. the
            clamped sigmoid inputs).

    Returns:
        `(bytes, summary)`: `summary` has `tensors` (activations
        considered), `narrowed` (how many got a smaller range) and
        `median_fraction` of those.
    """
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(calibrated))
    samples = activation_samples(calibrated, inputs, _activation_tensors(model))
    graph = model.subgraphs[0]
    keep = set(keep)
    fractions = []
    for index, values in samples.items():
        tensor = graph.tensors[index]
        if tensor_name(tensor) in keep:
            continue
        q = tensor.quantization
        low, high = float(q.min[0]), float(q.max[0])
        fraction = best_fraction(values, low, high, bits)
        if fraction < 1.0:
            q.min[0], q.max[0] = low * fraction, high * fraction
            fractions.append(fraction)
    summary = {
        "tensors": len(samples),
        "narrowed": len(fractions),
        "median_fraction": float(np.median(fractions)) if fractions else 1.0,
    }
    if not fractions:
        return calibrated, summary
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), summary
