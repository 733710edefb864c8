"""Writes `a2n_tiny_x2.tflite`, the model of the TensorFlow-free runtime tests.

A float32 A2N ×2 with one attention-in-attention block and 8 filters, its
weights drawn from a fixed seed (no trained or shared weights): a few KB
that exercise the same uint8-in/uint8-out graph, bilinear skip and embedded
metadata as any `enlca export`. Needs TensorFlow (the `[cpu]` extra); the
runtime tests only read the committed result.

Run from the repository root:

    python tests/runtime/data/make_fixture.py
"""

import os
import tempfile

import keras

from keras_enlca.export import export_model
from keras_enlca.models import A2N

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "a2n_tiny_x2.tflite")


def main():
    keras.utils.set_random_seed(2026)
    model = A2N(scale=2, num_blocks=1, filters=8, upsample_filters=4, reduction=2)
    model(keras.ops.zeros((1, 16, 16, 3)))
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, os.path.basename(FIXTURE))
        export_model(model, out, format="tflite", source="make_fixture.py")
        os.replace(out, FIXTURE)
    print(f"Wrote {FIXTURE} ({os.path.getsize(FIXTURE)} bytes)")


if __name__ == "__main__":
    main()
