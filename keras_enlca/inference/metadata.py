"""The small JSON that travels with every exported model.

Each artifact `PATH` (a `.tflite` file or a SavedModel folder) gets
`PATH.json` beside it, and the same document inside the artifact: in a
SavedModel as `assets.extra/keras_enlca.json`, in a `.tflite` as the
flatbuffer metadata entry `keras_enlca`. The copy inside survives renaming
and copying the artifact alone; the copy beside is easy to read and holds
the verification results.

Fields (all written by `keras_enlca.export.export_model`):

- `format`: `"tflite"` or `"savedmodel"`.
- `network`, `preset` (when known), `scale`, `parameters`.
- `input`: `{"dtype": "uint8", "range": [0, 255], "layout": "NHWC RGB",
  "shape": [batch, height, width, 3]}` (`null` for a dynamic dimension);
  `output` the same for the upscaled image.
- `tile`: `null` (any input size) or `[height, width]`.
- `quantization`: `"none"`, `"float16"`, `"dynamic"`, `"int8"` or
  `"int16x8"`; for the integer modes also `calibration` (source, crops,
  crop sizes) and `clamped_ranges` (sigmoid inputs whose calibrated range
  was clamped); for int8 `float_ops` (op types kept in float),
  `float_layers` (layers kept in float), `float_layer_reasons` (`{layer:
  why}`: attention arithmetic, image end, or the measured drop before and
  after) and, with `--max-drop`, `fallback` (`max_drop`, `integer_drop`,
  `drop` and `reached` on the calibration pairs, `steps`).
- `source_model`, `keras_enlca_version`, `tensorflow_version`, `created`.
- `size_bytes` of the artifact.
- `verification` (with `--verify`): PSNR-Y of the artifact against the
  Keras model and of both against the ground truth.
"""

import json
import os

from keras_enlca.errors import InputError
from keras_enlca.utils.atomic import atomic_path

METADATA_NAME = "keras_enlca"
# The artifact kinds `enlca export` writes (`format`) and the TFLite
# quantisation modes (`quantization`): the command line's choices too.
FORMATS = ("savedmodel", "tflite")
QUANTIZATIONS = ("none", "float16", "dynamic", "int8", "int16x8", "int8-full")
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


def read_artifact_metadata(artifact_path):
    """The metadata of an exported model, or None when it has none.

    Looks first for `<artifact>.json` beside it, then inside the artifact
    (SavedModel `assets.extra/keras_enlca.json`, `.tflite` metadata entry).
    """
    artifact_path = os.fspath(artifact_path)
    beside = metadata_path(artifact_path)
    if os.path.isfile(beside):
        return read_json(beside)
    if os.path.isdir(artifact_path):
        inside = os.path.join(artifact_path, "assets.extra", SAVED_MODEL_METADATA_FILE)
        return read_json(inside) if os.path.isfile(inside) else None
    if os.path.isfile(artifact_path):
        with open(artifact_path, "rb") as f:
            content = f.read()
        try:
            return tflite_embedded_metadata(content)
        except Exception:  # noqa: BLE001 - not a flatbuffer: no metadata
            return None
    return None
