"""Runs `enlca ARGS...` as if TensorFlow, Keras and TensorBoard were absent.

`python tests/runtime/without_tensorflow.py upscale model.tflite ...` makes
every import of those packages (and PyYAML) fail as in a `pip install
keras-enlca` (no extra) install, then runs the command line. The runtime tests use it so
that the main test run, which has TensorFlow, checks the TensorFlow-free
path too; in the runtime-only environment of `.ci/run` they are absent
for real.
"""

import importlib.abc
import os
import sys

BLOCKED = ("tensorflow", "keras", "tensorboard", "yaml")
# More packages to make absent, comma-separated (e.g. "onnxruntime": the
# LiteRT-only install opening a .onnx).
EXTRA_BLOCKED = tuple(
    name for name in os.environ.get("ENLCA_TEST_ALSO_ABSENT", "").split(",") if name
)


class BlockTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED + EXTRA_BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def main():
    sys.meta_path.insert(0, BlockTensorFlow())
    from keras_enlca.cli.main import main as enlca

    enlca(sys.argv[1:])


if __name__ == "__main__":
    main()
