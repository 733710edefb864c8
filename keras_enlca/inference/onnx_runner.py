"""`OnnxRunner`: a `.onnx` export run by ONNX Runtime (no TensorFlow)."""

import json
import os

import numpy as np
import onnxruntime as ort

from keras_enlca.errors import InputError
from keras_enlca.inference.metadata import METADATA_NAME
from keras_enlca.inference.metadata import metadata_path
from keras_enlca.inference.metadata import read_json
from keras_enlca.inference.model_runner import ModelRunner
from keras_enlca.utils.image_conventions import to_uint8

# ONNX Runtime's log levels: 3 = errors only. Its warnings at session start
# (A2N's Resize attribute that ONNX Runtime 1.32 calls deprecated) are for
# developers, not for `enlca upscale`.
_LOG_ERRORS_ONLY = 3
_ONNX_TYPES = {"tensor(uint8)": "uint8", "tensor(float)": "float32"}


def _first_line(error, limit=160):
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _session(path, num_threads=None, providers=None):
    """An `onnxruntime.InferenceSession`; a broken file is a one-line error."""
    options = ort.SessionOptions()
    options.log_severity_level = _LOG_ERRORS_ONLY
    options.inter_op_num_threads = 1
    if num_threads:
        options.intra_op_num_threads = int(num_threads)
    try:
        return ort.InferenceSession(
            path,
            sess_options=options,
            providers=list(providers or ["CPUExecutionProvider"]),
        )
    except Exception as error:  # noqa: BLE001 - ORT raises its own Fail/InvalidProtobuf
        raise InputError(
            f"{path}: ONNX Runtime cannot load it as an ONNX model "
            f"({_first_line(error)}); the file is truncated, damaged or not ONNX."
        ) from None


def _embedded(session):
    """The `keras_enlca` metadata dict inside a loaded model, or None."""
    text = session.get_modelmeta().custom_metadata_map.get(METADATA_NAME)
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def onnx_file_metadata(path):
    """The metadata stored in a `.onnx` file's `metadata_props`, or None."""
    try:
        return _embedded(_session(os.fspath(path)))
    except InputError:
        return None


class OnnxRunner(ModelRunner):
    """Runs a `.onnx` model in ONNX Runtime.

    `enlca export --format onnx` writes models taking uint8 RGB pixels
    `(batch, height, width, 3)` (any size, or the fixed `--input-size`) and
    returning the uint8 upscaled image, the same graph as the TFLite and
    SavedModel exports. This runner rounds its float [0, 1] input to 8 bits
    and returns `output / 255`; a model with a float32 input gets the float
    images as they are. A fixed-size model takes images up to that size
    (mirror-padded, output cropped), larger ones through the tiler, as
    `LiteRTRunner`. It needs only `onnxruntime` and NumPy
    (`pip install "keras-enlca[onnx]"`).

    Args:
        path: the `.onnx` file.
        num_threads: ONNX Runtime intra-op threads (default: its own, all
            cores).
        providers: ONNX Runtime execution providers in order of preference
            (default `["CPUExecutionProvider"]`; e.g.
            `["CUDAExecutionProvider", "CPUExecutionProvider"]` where
            `onnxruntime-gpu` is installed).

    Call arguments:
        images: NHWC (or HWC) float32 RGB array in [0, 1].

    Example:

    ```python
    runner = OnnxRunner("enlcn_x2.onnx", num_threads=2)
    sr = runner(np.random.rand(1, 40, 30, 3).astype("float32"))
    # sr.shape == (1, 80, 60, 3)
    ```
    """

    format = "onnx"

    def __init__(self, path, num_threads=None, providers=None):
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise InputError(f"{path}: no such .onnx file.")
        self.num_threads = num_threads
        self.session = _session(path, num_threads, providers)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise InputError(
                f"{path}: expected one image input and one output, got "
                f"{len(inputs)} inputs and {len(outputs)} outputs (not an "
                "`enlca export` model)."
            )
        self._input, self._output = inputs[0], outputs[0]
        self.input_dtype = _ONNX_TYPES.get(self._input.type)
        shape = list(self._input.shape)
        if self.input_dtype is None or len(shape) != 4 or shape[-1] != 3:
            raise InputError(
                f"{path}: expected an NHWC RGB image input (uint8 or float, shape "
                f"[N, H, W, 3]), got {self._input.type} {shape} (not an `enlca "
                "export` model)."
            )
        self.shape_signature = [d if isinstance(d, int) else None for d in shape]
        height, width = self.shape_signature[1:3]
        input_size = (height, width) if height and width else None
        self.size_bytes = os.path.getsize(path)
        beside = metadata_path(path)
        if os.path.isfile(beside):
            metadata = read_json(beside)
        else:
            metadata = _embedded(self.session) or {}
        super().__init__(path, 1, input_size=input_size, metadata=metadata)
        self._measure_scale(self._invoke)

    @property
    def providers(self):
        """The execution providers the session runs on."""
        return self.session.get_providers()

    def _invoke(self, batch):
        if self.input_dtype == "uint8":
            feed = to_uint8(batch)
        else:
            feed = batch.astype(np.float32)
        try:
            (out,) = self.session.run([self._output.name], {self._input.name: feed})
        except Exception as error:  # noqa: BLE001 - ORT's own error types
            raise InputError(
                f"{self.path}: ONNX Runtime failed on a {batch.shape[1]}x"
                f"{batch.shape[2]} input ({_first_line(error)})."
            ) from None
        if out.dtype == np.uint8:
            return out.astype(np.float32) / 255.0
        return np.clip(out.astype(np.float32), 0.0, 1.0)

    def run_batch(self, images):
        if self.input_size is None and self.shape_signature[0] is None:
            return self._invoke(images)
        return self._run_one_by_one(images, self._invoke)

    def describe(self):
        info = {
            "format": "onnx",
            "network": None,
            "scale": self.scale,
            "parameters": None,
            "input": {
                "dtype": self.input_dtype,
                "range": [0, 255] if self.input_dtype == "uint8" else [0.0, 1.0],
                "layout": "NHWC RGB",
                "shape": self.shape_signature,
            },
            "tile": list(self.input_size) if self.input_size else None,
            "input_size": list(self.input_size) if self.input_size else None,
            "execution_providers": self.providers,
        }
        info.update(self.metadata)
        info["scale"] = self.scale
        info["size_bytes"] = self.size_bytes
        return info
