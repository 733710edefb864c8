import os

import numpy as np

from keras_enlca.errors import InputError
from keras_enlca.inference.metadata import read_artifact_metadata
from keras_enlca.inference.model_runner import ModelRunner
from keras_enlca.utils.image_conventions import to_uint8


class SavedModelRunner(ModelRunner):
    """Runs the `serving_default` signature of an exported SavedModel.

    The signature of `export_saved_model` takes and returns uint8 pixels;
    this runner rounds its float [0, 1] input to 8 bits, calls the
    signature, and returns the uint8 output divided by 255. A SavedModel
    whose signature takes float32 is fed the float images directly.

    Args:
        path: the SavedModel folder.
        signature: the signature to call (`"serving_default"`).

    Call arguments:
        images: NHWC (or HWC) float32 RGB array in [0, 1].

    Example:

    ```python
    runner = SavedModelRunner("enlcn_x2_savedmodel")
    sr = runner(np.random.rand(1, 32, 32, 3).astype("float32"))
    ```
    """

    format = "savedmodel"

    def __init__(self, path, signature="serving_default"):
        import tensorflow as tf

        path = os.fspath(path)
        try:
            self.loaded = tf.saved_model.load(path)
        except Exception as error:  # noqa: BLE001 - a broken folder
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise InputError(f"{path}: cannot load the SavedModel ({first}).") from None
        signatures = dict(self.loaded.signatures)
        if signature not in signatures:
            raise InputError(
                f"{path}: the SavedModel has no {signature!r} signature "
                f"(it has: {', '.join(sorted(signatures)) or 'none'})."
            )
        self.signature = signatures[signature]
        inputs = self.signature.structured_input_signature[1]
        if len(inputs) != 1:
            raise InputError(
                f"{path}: the {signature!r} signature must take one image tensor."
            )
        ((self._input_name, spec),) = inputs.items()
        self.input_dtype = spec.dtype.name
        shape = spec.shape.as_list()
        if len(shape) != 4 or shape[-1] != 3:
            raise InputError(f"{path}: expected an NHWC RGB input, got shape {shape}.")
        input_size = (shape[1], shape[2]) if shape[1] and shape[2] else None
        metadata = read_artifact_metadata(path) or {}
        # Placeholder scale until known; `run_batch` does not use it.
        super().__init__(path, 1, input_size=input_size, metadata=metadata)
        self._measure_scale(self.run_batch)

    def run_batch(self, images):
        import tensorflow as tf

        if self.input_dtype == "uint8":
            feed = tf.constant(to_uint8(images))
        else:
            feed = tf.constant(images, dtype=self.input_dtype)
        outputs = self.signature(**{self._input_name: feed})
        out = next(iter(outputs.values())).numpy()
        if out.dtype == np.uint8:
            return out.astype(np.float32) / 255.0
        return np.clip(out.astype(np.float32), 0.0, 1.0)

    def describe(self):
        parameters = int(
            sum(int(np.prod(v.shape)) for v in getattr(self.loaded, "variables", []))
        )
        info = {
            "format": "savedmodel",
            "network": None,
            "scale": self.scale,
            "parameters": parameters,
            "input": {
                "dtype": self.input_dtype,
                "range": [0, 255] if self.input_dtype == "uint8" else [0.0, 1.0],
                "layout": "NHWC RGB",
                "shape": self.signature.structured_input_signature[1][
                    self._input_name
                ].shape.as_list(),
            },
            "tile": list(self.input_size) if self.input_size else None,
        }
        info.update(self.metadata)
        info["scale"] = self.scale
        return info
