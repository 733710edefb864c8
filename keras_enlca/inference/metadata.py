"""The small JSON that travels with every exported model.

Each artifact `PATH` (a `.tflite` or `.onnx` file, a SavedModel folder)
gets `PATH.json` beside it, and the same document inside the artifact: in a
SavedModel as `assets.extra/keras_enlca.json`, in a `.tflite` as the
flatbuffer metadata entry `keras_enlca`, in a `.onnx` as the model's
`metadata_props` entry `keras_enlca` (each format's `embedded_metadata` in
`keras_enlca.inference.artifact_format`). The copy inside survives renaming
and copying the artifact alone; the copy beside is easy to read and holds
the verification results.

Fields (all written by `keras_enlca.export.export_model`):

- `format`: a format name of the table (`"tflite"`, `"savedmodel"`,
  `"onnx"`).
- `network`, `preset` (when known), `scale`, `parameters`.
- `input`: `{"dtype": "uint8", "range": [0, 255], "layout": "NHWC RGB",
  "shape": [batch, height, width, 3]}` (`null` for a dynamic dimension);
  `output` the same for the upscaled image.
- `input_size`: `null` (any input size) or `[height, width]`, the fixed
  input (`enlca export --input-size`, or the target's); `tile`: the same
  value, its name before 0.x (kept one release for readers of old files).
- `target`: the runtime the export was made for (`"cpu"`, `"gpu"`,
  `"web"`; see `keras_enlca.export.targets`) and `target_settings`: what
  the target chose (input size, precision, op set).
- `quantization`: `"none"`, `"float16"`, `"dynamic"`, `"int8"` or `"int16x8"` (the
  format's `quantizations`); for the integer modes also `calibration` (source, crops,
  crop sizes) and `clamped_ranges` (sigmoid inputs whose calibrated range was clamped);
  for int8 `float_ops` (op types kept in float), `float_layers` (layers kept in float),
  `float_layer_reasons` (`{layer: why}`: attention arithmetic, image end, or the
  measured drop before and after) and, with `--max-drop`, `fallback` (`max_drop`,
  `integer_drop`, `drop` and `reached` on the calibration pairs, `steps`).
- `source_model`, `keras_enlca_version`, `tensorflow_version`, `created`;
  `converter` for formats converted by another tool (ONNX: `tf2onnx`
  version and `opset`).
- `size_bytes` of the artifact.
- `verification` (with `--verify`): PSNR-Y of the artifact against the
  Keras model and of both against the ground truth.
"""

import json
import os

from keras_enlca.errors import InputError
from keras_enlca.inference.artifact_format import TFLITE
from keras_enlca.inference.artifact_format import export_format_names
from keras_enlca.inference.artifact_format import format_of_path
from keras_enlca.utils.atomic import atomic_path

METADATA_NAME = "keras_enlca"
# The artifact kinds `enlca export` writes (`format`) as the package
# registers them (a snapshot: `export_format_names()` sees formats
# registered later) and the quantisation modes (`quantization`, TFLite's
# being the widest list; each format lists its own).
FORMATS = export_format_names()
QUANTIZATIONS = TFLITE.quantizations
SAVED_MODEL_METADATA_FILE = "keras_enlca.json"


def metadata_path(artifact_path):
    """The path of the JSON beside `artifact_path` (`<artifact>.json`)."""
    return os.fspath(artifact_path).rstrip("/\\") + ".json"


def write_metadata(path, metadata, atomic=True):
    """Writes `metadata` (a dict) as indented JSON to `path`."""
    text = json.dumps(metadata, indent=2, sort_keys=False) + "\n"
    if not atomic:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


def read_json(path):
    """Reads a metadata JSON; a broken file is an `InputError` naming it."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(
            f"{path}: cannot read the model metadata JSON ({error})."
        ) from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: the model metadata JSON is not an object.")
    return data


def tflite_embedded_metadata(content):
    """The `keras_enlca` metadata dict stored inside a `.tflite`, or None."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(content, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() is None or entry.Name().decode("utf-8") != METADATA_NAME:
            continue
        data = model.Buffers(entry.Buffer()).DataAsNumpy()
        try:
            return json.loads(bytes(data).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None
    return None


def embed_tflite_metadata(content, metadata):
    """Returns `content` (a `.tflite` flatbuffer) with `metadata` inside it.

    The dict is stored as UTF-8 JSON in a flatbuffer metadata entry named
    `keras_enlca` (replacing an earlier one), where runtimes ignore it.
    """
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    data = np.frombuffer(json.dumps(metadata).encode("utf-8"), dtype=np.uint8)
    entries = [
        m
        for m in (model.metadata or [])
        if (m.name.decode() if isinstance(m.name, bytes) else m.name) != METADATA_NAME
    ]
    buffer = schema.BufferT()
    buffer.data = data
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    entries.append(entry)
    model.metadata = entries
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def saved_model_metadata(path):
    """The metadata inside a SavedModel folder (`assets.extra`), or None."""
    inside = os.path.join(path, "assets.extra", SAVED_MODEL_METADATA_FILE)
    return read_json(inside) if os.path.isfile(inside) else None


def tflite_file_metadata(path):
    """The metadata embedded in a `.tflite` file, or None."""
    with open(path, "rb") as f:
        content = f.read()
    try:
        return tflite_embedded_metadata(content)
    except Exception:  # noqa: BLE001 - not a flatbuffer: no metadata
        return None


def read_artifact_metadata(artifact_path):
    """The metadata of an exported model, or None when it has none.

    Looks first for `<artifact>.json` beside it, then inside the artifact,
    through its format's `embedded_metadata` reader (SavedModel
    `assets.extra/keras_enlca.json`, `.tflite` metadata entry, `.onnx`
    `metadata_props`).
    """
    artifact_path = os.fspath(artifact_path)
    beside = metadata_path(artifact_path)
    if os.path.isfile(beside):
        return read_json(beside)
    if not os.path.exists(artifact_path):
        return None
    try:
        artifact_format = format_of_path(artifact_path)
    except InputError:
        return None
    if artifact_format.embedded_metadata is None:
        return None
    return artifact_format.load("embedded_metadata")(artifact_path)
