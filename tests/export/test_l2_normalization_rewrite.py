"""The converter's fused L2_NORMALIZATION, written out as plain arithmetic."""

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from keras_enlca.export.l2_normalization_rewrite import unfuse_l2_normalization
from keras_enlca.layers import ENLCA
from keras_enlca.layers import NonLocalSparseAttention
from tests.layers import common

LAYERS = {
    "enlca": (lambda: ENLCA(), 2),  # queries and keys
    "nlsa": (lambda: NonLocalSparseAttention(chunk_size=16), 1),  # keys
}


def _convert(model, tmp_path, height, width):
    model.export(
        str(tmp_path / "saved"),
        format="tf_saved_model",
        verbose=False,
        input_signature=[tf.TensorSpec([1, height, width, 16])],
    )
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def _run(content, x):
    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    ops = [op["op_name"] for op in interpreter._get_ops_details()]
    return out, ops


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_same_outputs_without_l2_normalization(name, tmp_path):
    make, fused_count = LAYERS[name]
    model = common.functional_model(make(), 16)
    x = np.random.default_rng(0).random((1, 12, 10, 16), dtype=np.float32)
    fused = _convert(model, tmp_path, 12, 10)
    rewritten, count = unfuse_l2_normalization(fused)
    before, fused_ops = _run(fused, x)
    after, ops = _run(rewritten, x)
    # The converter fuses the layer's x * rsqrt(max(sum(x**2), eps**2)).
    assert fused_ops.count("L2_NORMALIZATION") == count == fused_count
    assert "L2_NORMALIZATION" not in ops
    assert ops.count("RSQRT") == count and ops.count("SQUARE") >= count
    np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(after, model(x).numpy(), atol=2e-5)
