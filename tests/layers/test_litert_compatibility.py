"""Every attention layer converts to TFLite with builtin ops only and runs in
LiteRT at sizes it was not traced with, matching Keras."""

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from keras_enlca.layers import ENLCA
from keras_enlca.layers import NonLocalAttention
from keras_enlca.layers import NonLocalSparseAttention
from tests.layers import common

LAYERS = {
    "enlca": (lambda: ENLCA(), {"EXP", "L2_NORMALIZATION"}),
    "nlsa": (
        lambda: NonLocalSparseAttention(chunk_size=16),
        {"ARG_MAX", "TOPK_V2", "GATHER"},
    ),
    "nla": (lambda: NonLocalAttention(), {"SOFTMAX", "BATCH_MATMUL"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_builtin_ops_only_and_dynamic_size(name, tmp_path):
    make, expected_ops = LAYERS[name]
    model = common.functional_model(make(), 16)
    model.export(
        str(tmp_path / "saved"),
        format="tf_saved_model",
        verbose=False,
        input_signature=[tf.TensorSpec([1, None, None, 16])],
    )
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = Interpreter(model_content=converter.convert())
    rng = np.random.default_rng(0)
    for height, width in ((12, 13), (20, 17)):
        x = rng.random((1, height, width, 16), dtype=np.float32)
        detail = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(detail["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(detail["index"], x)
        interpreter.invoke()
        out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        np.testing.assert_allclose(out, model(x).numpy(), atol=2e-5)
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert expected_ops <= ops
    assert not any(op.startswith("FLEX") or op == "CUSTOM" for op in ops), ops
