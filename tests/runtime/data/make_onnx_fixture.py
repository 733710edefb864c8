"""Writes the `.onnx` models of the ONNX-only runtime tests.

- `a2n_tiny_x2.onnx`: the model of `make_fixture.py` (a float32 A2N x2 with
  one block and 8 filters, weights from a fixed seed) exported with
  `enlca export --format onnx` (any input size, metadata embedded).
- `foreign_add.onnx`: a valid ONNX model that is not an `enlca export` (two
  float inputs added), for the one-line error of a foreign model.

Needs TensorFlow, tf2onnx and onnx (the `[cpu,test]` extras); the runtime
tests only read the committed files. Run from the repository root:

    python tests/runtime/data/make_onnx_fixture.py
"""

import os
import tempfile

import keras
import onnx
from onnx import TensorProto
from onnx import helper

from keras_enlca.export import export_model
from keras_enlca.models import A2N

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "a2n_tiny_x2.onnx")
FOREIGN = os.path.join(HERE, "foreign_add.onnx")


def main():
    keras.utils.set_random_seed(2026)
    model = A2N(scale=2, num_blocks=1, filters=8, upsample_filters=4, reduction=2)
    model(keras.ops.zeros((1, 16, 16, 3)))
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, os.path.basename(FIXTURE))
        export_model(model, out, format="onnx", source="make_onnx_fixture.py")
        os.replace(out, FIXTURE)
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 4])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 4])
    c = helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["c"])], "add", [a, b], [c]
    )
    foreign = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    foreign.ir_version = 8
    onnx.save_model(foreign, FOREIGN)
    for path in (FIXTURE, FOREIGN):
        print(f"Wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
