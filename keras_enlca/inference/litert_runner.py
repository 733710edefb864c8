import os

import numpy as np

from keras_enlca.errors import InputError
from keras_enlca.inference.metadata import read_artifact_metadata
from keras_enlca.inference.model_runner import ModelRunner
from keras_enlca.inference.tflite_flatbuffer import non_builtin_ops
from keras_enlca.inference.tflite_flatbuffer import tflite_operators
from keras_enlca.utils.image_conventions import to_uint8
from keras_enlca.utils.native_output import quiet_native_output


def check_flatbuffer(path, content):
    """Raises a one-line `InputError` unless `content` is a whole TFLite model.

    A truncated or damaged file makes the flatbuffer reader fail deep
    inside (`unpack_from requires a buffer...`); the whole model is read
    once here, so that any such failure is reported as the file's.
    """
    from ai_edge_litert import schema_py_generated as schema  # no TensorFlow needed

    def fail():
        return InputError(
            f"{path}: not a complete TFLite model ({len(content)} bytes; the file is "
            "truncated or damaged)."
        )

    try:
        # Unpacking reads every table, vector and string of the model.
        model = schema.ModelT.InitFromPackedBuf(content, 0)
        for buffer in model.buffers or []:
            offset, size = int(buffer.offset or 0), int(buffer.size or 0)
            if offset > 1 and offset + size > len(content):
                raise fail()  # a large model's weights appended after the flatbuffer
    except InputError:
        raise
    except Exception:  # noqa: BLE001 - struct.error, IndexError... all mean damaged
        raise fail() from None


class LiteRTRunner(ModelRunner):
    """Runs a `.tflite` model in the LiteRT interpreter, as a phone would.

    Uses `ai_edge_litert.interpreter.Interpreter` (not the deprecated
    `tf.lite.Interpreter`). A model with a dynamic input shape (the default
    export) is resized to each image with `resize_tensor_input` and
    `allocate_tensors` (only when the size changes). A model with a fixed
    input shape (`--tile H W`) takes images up to that size: smaller ones
    are mirror-padded (like the tiler) and the output cropped; larger ones must
    be tiled (`keras_enlca.inference.upscale_tiled` with
    `tile=runner.input_size`). Batches run one image at a time.

    uint8 models (all exports of this package) get the input rounded to 8
    bits and return `output / 255`; float32 models get the float [0, 1]
    input as is.

    Args:
        path: the `.tflite` file.
        num_threads: interpreter threads (default: all CPU cores).

    Call arguments:
        images: NHWC (or HWC) float32 RGB array in [0, 1].

    Example:

    ```python
    runner = LiteRTRunner("enlcn_x2_int8.tflite")
    sr = runner(np.random.rand(1, 40, 30, 3).astype("float32"))
    # sr.shape == (1, 80, 60, 3)
    ```
    """

    format = "tflite"

    def __init__(self, path, num_threads=None):
        from ai_edge_litert.interpreter import Interpreter

        path = os.fspath(path)
        if not os.path.isfile(path):
            raise InputError(f"{path}: no such .tflite file.")
        with open(path, "rb") as f:
            content = f.read()
        if content[4:8] != b"TFL3":
            raise InputError(f"{path}: not a TFLite flatbuffer.")
        check_flatbuffer(path, content)
        unsupported = non_builtin_ops(content)
        if unsupported:
            raise InputError(
                f"{path}: needs ops that LiteRT has no builtin kernel for: "
                f"{', '.join(unsupported)}."
            )
        self.num_threads = int(num_threads or os.cpu_count() or 1)
        try:
            self.interpreter = Interpreter(
                model_content=content, num_threads=self.num_threads
            )
        except (ValueError, RuntimeError) as error:
            raise InputError(f"{path}: LiteRT cannot load it ({error}).") from None
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise InputError(f"{path}: expected one input and one output tensor.")
        self._input = inputs[0]
        self._output = outputs[0]
        self.input_dtype = np.dtype(self._input["dtype"]).name
        if self.input_dtype not in ("uint8", "float32"):
            raise InputError(
                f"{path}: unsupported input type {self.input_dtype} (expected uint8 "
                "pixels or float32 in [0, 1])."
            )
        signature = [int(d) for d in self._input["shape_signature"]]
        if len(signature) != 4 or signature[-1] != 3:
            raise InputError(
                f"{path}: expected an NHWC RGB input, got shape {signature}."
            )
        self.shape_signature = signature
        input_size = (signature[1], signature[2]) if min(signature[1:3]) > 0 else None
        self.size_bytes = len(content)
        self._allocated_shape = None
        metadata = read_artifact_metadata(path) or {}
        super().__init__(path, 1, input_size=input_size, metadata=metadata)
        # LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate" from
        # C++ when the graph is first prepared: keep the command line quiet.
        with quiet_native_output():
            self._measure_scale(self._invoke)

    def _invoke(self, image):
        """Runs one `(1, h, w, 3)` image of exactly the interpreter's size."""
        shape = list(image.shape)
        if self._allocated_shape != shape:
            if self.input_size is None:
                self.interpreter.resize_tensor_input(
                    self._input["index"], shape, strict=True
                )
            self.interpreter.allocate_tensors()
            self._allocated_shape = shape
        if self.input_dtype == "uint8":
            feed = to_uint8(image)
        else:
            feed = image.astype(np.float32)
        self.interpreter.set_tensor(self._input["index"], feed)
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self._output["index"])
        if out.dtype == np.uint8:
            return out.astype(np.float32) / 255.0
        return np.clip(out.astype(np.float32), 0.0, 1.0)

    def run_batch(self, images):
        return self._run_one_by_one(images, self._invoke)

    def describe(self):
        with open(self.path, "rb") as f:
            content = f.read()
        operators = tflite_operators(content)
        info = {
            "format": "tflite",
            "network": None,
            "scale": self.scale,
            "parameters": None,
            "input": {
                "dtype": self.input_dtype,
                "range": [0, 255] if self.input_dtype == "uint8" else [0.0, 1.0],
                "layout": "NHWC RGB",
                "shape": [d if d > 0 else None for d in self.shape_signature],
            },
            "tile": list(self.input_size) if self.input_size else None,
            "size_bytes": self.size_bytes,
            "operators": len(operators),
            "int8_operators": sum(
                1
                for op in operators
                if "INT8" in op["outputs"] and op["op"] != "QUANTIZE"
            ),
        }
        info.update(self.metadata)
        info["scale"] = self.scale
        info["size_bytes"] = self.size_bytes
        return info
