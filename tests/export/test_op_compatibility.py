"""GPU placement of exports: the op tables, the fallback reasons, the metadata."""

import json

import pytest

from keras_enlca.export.l2_normalization_rewrite import unfuse_l2_normalization
from keras_enlca.export.op_compatibility import GPU_DELEGATE_OPS
from keras_enlca.export.op_compatibility import RUNTIMES
from keras_enlca.export.op_compatibility import WEB_GPU_OPS
from keras_enlca.export.op_compatibility import fallback_reason
from keras_enlca.export.op_compatibility import fallback_warning
from keras_enlca.export.op_compatibility import model_operators
from keras_enlca.export.op_compatibility import placement
from keras_enlca.export.op_compatibility import placement_metadata
from tests.export import artifacts

TILE = (24, 24)
# Fixed-shape exports a GPU delegate must run whole.
GPU_WHOLE = [
    ("enlcn", "none"),
    ("enlcn", "int8"),
    ("a2n", "none"),
    ("a2n", "int8"),
    ("edsr", "none"),
]


@pytest.mark.slow
@pytest.mark.parametrize("family,variant", GPU_WHOLE)
def test_fixed_shape_exports_have_only_gpu_delegate_ops(family, variant):
    path = artifacts.artifact(family, variant, tile=TILE)
    operators = model_operators(path)
    names = {operator["op"] for operator in operators}
    assert names <= GPU_DELEGATE_OPS, names - GPU_DELEGATE_OPS
    assert "L2_NORMALIZATION" not in names
    result = placement(path, "gpu")
    assert result["whole"] and result["share"] == 1.0
    assert result["on_gpu"] == result["ops"] == len(operators)
    assert result["partitions"] == 1
    web = placement(path, "web")
    # LiteRT.js WebGPU: only the DEQUANTIZE of the int8 -> float boundaries
    # (and of float16 weights) stays on the CPU.
    assert set(web["fallback"]) <= {"DEQUANTIZE"}
    assert web["whole"] == (variant == "none")


@pytest.mark.slow
def test_nlsn_hashing_falls_back_on_the_gpu_delegate():
    path = artifacts.artifact("nlsn", "none", tile=TILE)
    result = placement(path, "gpu")
    fallback = result["fallback"]
    assert {"ARG_MAX", "TOPK_V2"} <= set(fallback)
    assert fallback["ARG_MAX"] == {"count": 2, "reason": "no kernel"}
    assert fallback["TOPK_V2"]["reason"] == "no kernel"
    # The int32 arithmetic on the hash codes: the delegate takes float tensors.
    assert all(
        row["reason"] == "tensor type"
        for name, row in fallback.items()
        if name not in ("ARG_MAX", "TOPK_V2")
    )
    assert "L2_NORMALIZATION" not in fallback and "GATHER" not in fallback
    assert not result["whole"] and 0.8 < result["share"] < 1.0
    assert result["partitions"] > 1 and result["largest_partition"] < result["on_gpu"]
    # ML Drift (LiteRT.js WebGPU) has ARG_MAX, TOPK_V2 and GATHER.
    assert placement(path, "web")["whole"]
    metadata = placement_metadata(path)
    assert metadata["gpu_fallback_ops"] == sorted(fallback)
    assert metadata["web_fallback_ops"] == []
    assert metadata["gpu_placement"]["analyzer"]["compatible"] in (True, False)
    warning = fallback_warning(metadata, "gpu")
    assert warning.startswith(f"{result['ops'] - result['on_gpu']} of {result['ops']}")
    assert "ARG_MAX x2 (no kernel)" in warning
    assert fallback_warning(metadata, "web") is None
    json.dumps(metadata)


@pytest.mark.slow
def test_any_size_exports_are_dynamic_for_both_runtimes():
    path = artifacts.artifact("edsr", "none")
    with open(path, "rb") as f:
        content = f.read()
    assert unfuse_l2_normalization(content) == (content, 0)  # nothing to do
    for runtime in RUNTIMES:
        result = placement(path, runtime)
        assert not result["whole"]
        assert {row["reason"] for row in result["fallback"].values()} == {
            "dynamic tensor"
        }
    warning = fallback_warning(placement_metadata(path, analyzer=False), "web")
    assert warning.endswith(
        "Export with --tile H W: GPU delegates take fixed input sizes only."
    )


def test_fallback_reasons():
    conv = {"op": "CONV_2D", "inputs": ["FLOAT32"], "outputs": ["FLOAT32"]}
    assert fallback_reason({**conv, "dynamic": False}, "gpu") is None
    assert fallback_reason({**conv, "dynamic": True}, "gpu") == "dynamic tensor"
    assert fallback_reason({**conv, "dynamic": True}, "web") == "dynamic tensor"
    l2 = {"op": "L2_NORMALIZATION", "inputs": ["FLOAT32"], "outputs": ["FLOAT32"]}
    for runtime in RUNTIMES:
        assert fallback_reason({**l2, "dynamic": False}, runtime) == "no kernel"
    sub = {"op": "SUB", "inputs": ["INT32"], "outputs": ["INT32"], "dynamic": False}
    assert fallback_reason(sub, "gpu") == "tensor type"
    assert fallback_reason(sub, "web") is None  # ML Drift takes int32
    gather = {"op": "GATHER", "inputs": ["FLOAT32", "INT32"], "dynamic": False}
    assert fallback_reason({**gather, "outputs": ["FLOAT32"]}, "gpu") is None
    argmax = {"op": "ARG_MAX", "inputs": ["FLOAT32"], "outputs": ["INT32"]}
    assert fallback_reason({**argmax, "dynamic": False}, "gpu") == "no kernel"
    assert fallback_reason({**argmax, "dynamic": False}, "web") is None


def test_tables():
    assert {"L2_NORMALIZATION", "ARG_MAX", "TOPK_V2"}.isdisjoint(GPU_DELEGATE_OPS)
    assert {"SUM", "MAXIMUM", "RSQRT", "MUL", "SQUARE", "DEPTH_TO_SPACE"} <= (
        GPU_DELEGATE_OPS & WEB_GPU_OPS
    )
    assert "DEQUANTIZE" in GPU_DELEGATE_OPS and "DEQUANTIZE" not in WEB_GPU_OPS
    assert {"ARG_MAX", "TOPK_V2", "GATHER"} <= WEB_GPU_OPS
    assert "L2_NORMALIZATION" not in WEB_GPU_OPS
