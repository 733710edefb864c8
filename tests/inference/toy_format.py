"""A toy artifact format for the plug-in test: a JSON file holding the scale.

Its runner upscales by pixel repetition; its exporter writes the scale and
the export metadata. Registered only by `test_artifact_format.py`.
"""

import json

import numpy as np

from keras_enlca.inference.metadata import read_artifact_metadata
from keras_enlca.inference.model_runner import ModelRunner
from keras_enlca.utils.atomic import atomic_path


class ToyRunner(ModelRunner):
    format = "toy"

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            scale = json.load(f)["scale"]
        super().__init__(path, scale, metadata=read_artifact_metadata(path) or {})

    def run_batch(self, images):
        return np.repeat(np.repeat(images, self.scale, axis=1), self.scale, axis=2)

    def describe(self):
        return {"format": "toy", "input": {}, **self.metadata, "scale": self.scale}


def export_toy(model, options, metadata, reference):
    metadata["toy_note"] = "written by the toy exporter"
    with atomic_path(options.out) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"scale": reference.scale, "keras_enlca": metadata}, f)


def toy_metadata(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f).get("keras_enlca")
