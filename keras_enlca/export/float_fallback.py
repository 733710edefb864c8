"""Which layers of an integer model stay float: chosen by measured drop.

`layer_nodes` maps each top-level Keras layer of the network to the
TFLite ops it became (through the TensorFlow name scopes in the tensor
names). `choose_float_layers` then works on one calibrated model:

1. quantise everything but the `required` nodes (the uint8 conversions,
   the attention arithmetic) and measure the drop;
2. if it is over the budget, measure each layer's sensitivity: the drop
   with that layer alone kept float;
3. keep layers float greedily, most sensitive first, measuring the drop
   again after each (a layer that does not lower it stays integer), until
   it is within the budget; the remaining layers
   are measured again on top of the current choice whenever the drop has
   halved since they were ranked, or none of them helps any more.

"Drop" is whatever `measure(content)` returns; `tflite.py` passes the
PSNR-Y drop against the Keras model on `selection_pairs` of the
calibration images. A model that fails to run counts as an infinite drop.
"""

import math
import re


def _scope_pattern(name):
    # `<model>_1/<layer>_1/...`: a top-level layer is the second scope.
    return re.compile(rf"^[^/;]+/{re.escape(name)}(_\d+)?(/|$)")


def layer_nodes(content, layer_names, skip_ops=("QUANTIZE", "DEQUANTIZE")):
    """`{layer: [output tensor names of its ops]}` for the top-level layers.

    An op fused from several layers (tensor name parts joined by `;`)
    belongs to each of them; layers with no op (e.g. reshapes folded away)
    are left out.
    """
    from keras_enlca.inference.tflite_flatbuffer import operator_output_names

    patterns = {name: _scope_pattern(name) for name in layer_names}
    groups = {}
    for op, tensor in operator_output_names(content):
        if op in skip_ops:
            continue
        parts = tensor.split(";")
        for name, pattern in patterns.items():
            if any(pattern.search(part) for part in parts):
                groups.setdefault(name, []).append(tensor)
    return groups


def _safe_measure(measure, content):
    try:
        value = float(measure(content))
    except (RuntimeError, ValueError) as error:  # the interpreter failed
        return math.inf, str(error).splitlines()[0] if str(error) else type(
            error
        ).__name__
    return (value if math.isfinite(value) else math.inf), None


def choose_float_layers(
    quantize, measure, groups, required=(), max_drop=None, measure_all=False
):
    """Greedy float fallback on measured drops.

    Args:
        quantize: `quantize(float_nodes) -> bytes`, an integer model with
            those nodes in float (one calibration, `quantize_calibrated`).
        measure: `measure(content) -> drop` (dB, lower is better).
        groups: `{layer: [node names]}` (see `layer_nodes`), the candidates.
        required: node names always kept float.
        max_drop: the budget; None measures nothing beyond the all-integer
            model's drop (and keeps every candidate integer).
        measure_all: measure every layer's sensitivity even when the
            integer model is within the budget (for `--report`).

    Returns:
        A dict: `float_layers` (the chosen layers, in order), `drop` (of
        the final model), `integer_drop` (all candidates integer),
        `reached` (drop <= max_drop), `table` (per layer: `layer`, `ops`,
        `drop_if_float`, `gain`, `kept_float`, `reason`), `steps` (drop
        after each layer added) and `content` (the final flatbuffer).
    """
    required = list(required)
    required_set = set(required)
    groups = {
        name: [n for n in nodes if n not in required_set]
        for name, nodes in groups.items()
    }
    groups = {name: nodes for name, nodes in groups.items() if nodes}
    content = quantize(required)
    drop, error = _safe_measure(measure, content)
    result = {
        "max_drop": max_drop,
        "integer_drop": drop,
        "integer_error": error,
        "table": [],
        "steps": [],
        "float_layers": [],
        "drop": drop,
        "reached": True,
        "content": content,
    }
    within = max_drop is None or drop <= max_drop
    if within and not measure_all:
        result["table"] = [
            {
                "layer": name,
                "ops": len(nodes),
                "drop_if_float": None,
                "gain": None,
                "kept_float": False,
                "reason": "integer: the whole model is within the budget",
            }
            for name, nodes in groups.items()
        ]
        return result
    table = []
    for name, nodes in groups.items():
        layer_drop, layer_error = _safe_measure(measure, quantize(required + nodes))
        gain = (
            drop - layer_drop
            if math.isfinite(drop)
            else (math.inf if math.isfinite(layer_drop) else 0.0)
        )
        table.append(
            {
                "layer": name,
                "ops": len(nodes),
                "drop_if_float": layer_drop,
                "gain": gain,
                "kept_float": False,
                "error": layer_error,
            }
        )
    order = sorted(table, key=lambda row: (-row["gain"], row["ops"]))
    chosen, nodes, current, ranked_at = [], list(required), drop, drop
    while order and not within and current > max_drop:
        if not order[0]["gain"] > 0 or not current > ranked_at / 2:
            # A ranking is stale once the drop has halved (gains measured
            # against a 15 dB drop say nothing at 0.2 dB) or has nothing
            # left that helps: measure the rest again on the current choice.
            ranked_at = current
            for row in order:
                row["drop_if_float"], _ = _safe_measure(
                    measure, quantize(nodes + groups[row["layer"]])
                )
                row["gain"] = (
                    current - row["drop_if_float"]
                    if math.isfinite(current)
                    else (math.inf if math.isfinite(row["drop_if_float"]) else 0.0)
                )
            order.sort(key=lambda row: (-row["gain"], row["ops"]))
            if not order[0]["gain"] > 0:
                break  # nothing left that measurably helps
        row = order.pop(0)
        previous = current
        candidate = nodes + groups[row["layer"]]
        candidate_content = quantize(candidate)
        candidate_drop, _ = _safe_measure(measure, candidate_content)
        if not candidate_drop < current:
            row["tried"] = candidate_drop  # no better together with the others
            continue
        chosen.append(row["layer"])
        nodes, current, content = candidate, candidate_drop, candidate_content
        row["kept_float"] = True
        result["steps"].append(
            {"layer": row["layer"], "drop_before": previous, "drop": candidate_drop}
        )
    for row in table:
        if row.get("error") is None:
            row.pop("error", None)
        if row["kept_float"]:
            index = chosen.index(row["layer"])
            step = result["steps"][index]
            row["reason"] = (
                "sensitivity: kept float, the measured drop went from "
                f"{_db(step['drop_before'])} to {_db(step['drop'])} (step {index + 1} "
                f"of {len(chosen)} towards {max_drop:g} dB)"
            )
        elif "tried" in row:
            row["reason"] = (
                f"integer: kept float it made the drop {_db(row.pop('tried'))}, "
                "no better"
            )
        else:
            row["reason"] = "integer"
    result.update(
        table=table,
        float_layers=chosen,
        drop=current,
        reached=max_drop is None or current <= max_drop,
        content=content,
    )
    return result


def _db(value):
    return "inf dB (fails)" if not math.isfinite(value) else f"{value:.3f} dB"


def pair_drop_measure(reference, pairs, scale, num_threads=None):
    """`measure(content)`: mean PSNR-Y drop of a `.tflite` against `reference`.

    Args:
        reference: a callable NHWC float [0, 1] -> [0, 1] (a `KerasRunner`).
        pairs: `(lr, hr)` uint8 pairs (see `calibration.selection_pairs`).
        scale: the upscaling factor (pixels shaved from the border).
        num_threads: LiteRT threads.

    The drop is mean PSNR-Y of the reference minus that of the candidate,
    both against HR, MATLAB conventions (`evaluation.metrics.psnr`).
    """
    import os
    import tempfile

    import numpy as np

    from keras_enlca.evaluation.metrics import psnr
    from keras_enlca.inference.litert_runner import LiteRTRunner

    inputs = [lr.astype(np.float32)[None] / 255.0 for lr, _ in pairs]
    reference_psnr = float(
        np.mean(
            [
                psnr(reference(x)[0], hr, shave=scale)
                for x, (_, hr) in zip(inputs, pairs)
            ]
        )
    )

    def measure(content):
        with tempfile.TemporaryDirectory(prefix="enlca-fallback-") as folder:
            path = os.path.join(folder, "candidate.tflite")
            with open(path, "wb") as f:
                f.write(content)
            runner = LiteRTRunner(path, num_threads=num_threads)
            values = [
                psnr(runner(x)[0], hr, shave=scale) for x, (_, hr) in zip(inputs, pairs)
            ]
        return reference_psnr - float(np.mean(values))

    return measure
