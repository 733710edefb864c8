"""`ArtifactFormat`: one model format, and the table of all of them.

The table (`register_format`, `get_format`, `artifact_formats`) is the only
list of model formats. `model_format` and `open_runner` detect and open
paths with it, `inference.metadata` reads the metadata embedded in an
artifact through it, `enlca export --format` offers the formats that have an
exporter, and `keras_enlca.export.export_model` calls that exporter. Adding
a format is its exporter, its runner and one `register_format` call (see
CONTRIBUTING.md).

Runners and exporters are named as `"module:attribute"` strings and imported
only when used, so that reading the table imports neither TensorFlow nor any
runtime.
"""

import dataclasses
import importlib
import os
from collections.abc import Callable

from keras_enlca.errors import InputError


@dataclasses.dataclass(frozen=True)
class ArtifactFormat:
    """One model format: how to recognise, open and (optionally) export it.

    Args:
        name: the lowercase name (`enlca export --format NAME`, the
            metadata's `format`, `ModelRunner.format`).
        display_name: for messages (`"TFLite"`).
        runner: `"module:Class"` of its `ModelRunner`; the class takes the
            path and keyword options such as `num_threads`.
        exporter: `"module:function"` writing the artifact (see
            `keras_enlca.export.export_model`), or None when `enlca export`
            does not write this format (`.keras`).
        suffix: the file name ending (`".tflite"`); None for a folder.
        folder_marker: for a folder format, the file that identifies it
            (`"saved_model.pb"`).
        folder_entries: for a folder format, the names an exported folder
            holds (`--overwrite` replaces only such a folder).
        magic: optional `head bytes -> bool` recognising a file whose name
            lacks `suffix`.
        quantizations: the `--quantize` choices, `"none"` (float32) first.
        embedded_metadata: `"module:function"` returning the metadata dict
            stored inside an artifact (or None), for an artifact whose JSON
            was not copied beside it; None when the format stores none.
        extra: the pip extra that installs its runtime, for messages
            (`"onnx"`); None when the base install runs it.
        batch: the batch size of its exports (None: any).
        threads: its runner takes `num_threads` (`enlca upscale --threads`).
        description: one line for `--help` and the docs.

    Example:

    ```python
    register_format(
        ArtifactFormat(
            name="toy",
            display_name="Toy",
            runner="my_package.toy_runner:ToyRunner",
            exporter="my_package.toy_exporter:export_toy",
            suffix=".toy",
        )
    )
    ```
    """

    name: str
    display_name: str
    runner: str
    exporter: str | None = None
    suffix: str | None = None
    folder_marker: str | None = None
    folder_entries: tuple = ()
    magic: Callable[[bytes], bool] | None = None
    quantizations: tuple = ("none",)
    embedded_metadata: str | None = None
    extra: str | None = None
    batch: int | None = None
    threads: bool = False
    description: str = ""

    @property
    def is_folder(self):
        return self.suffix is None

    def load(self, role):
        """The object named by `self.<role>` (`"runner"`, `"exporter"`...)."""
        return import_object(getattr(self, role))


_FORMATS = {}


def import_object(spec):
    """`"package.module:attribute"` -> the attribute (imported now)."""
    module_name, attribute = spec.split(":")
    return getattr(importlib.import_module(module_name), attribute)


def register_format(artifact_format):
    """Adds (or replaces) a format in the table; returns it."""
    _FORMATS[artifact_format.name] = artifact_format
    return artifact_format


def unregister_format(name):
    """Removes a format from the table (tests of a toy format)."""
    _FORMATS.pop(name, None)


def artifact_formats():
    """Every registered `ArtifactFormat`, in registration order."""
    return tuple(_FORMATS.values())


def export_format_names():
    """The names `enlca export --format` takes (formats with an exporter)."""
    return tuple(f.name for f in _FORMATS.values() if f.exporter is not None)


def quantization_names():
    """Every format's `--quantize` choices, in table order, each once."""
    names = []
    for f in _FORMATS.values():
        names.extend(q for q in f.quantizations if q not in names)
    return tuple(names)


def get_format(name, option="--format"):
    """The `ArtifactFormat` called `name`; an `InputError` listing the others."""
    found = _FORMATS.get(str(name).lower())
    if found is None:
        raise InputError(
            f"{option} must be one of {', '.join(export_format_names())}, got {name!r}."
        )
    return found


def folder_entries():
    """The names any exported folder artifact may hold (all folder formats)."""
    names = []
    for f in _FORMATS.values():
        names.extend(n for n in f.folder_entries if n not in names)
    return tuple(names)


def format_of_path(path):
    """The `ArtifactFormat` of an existing model path.

    Folders are told by their marker file, files by their name ending, then
    by their first bytes. Raises `InputError` naming the path when it does
    not exist or matches no format.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        for f in _FORMATS.values():
            if f.folder_marker and os.path.isfile(os.path.join(path, f.folder_marker)):
                return f
        folders = [f for f in _FORMATS.values() if f.folder_marker]
        names = " or ".join(f.display_name for f in folders)
        markers = " or ".join(f.folder_marker for f in folders)
        raise InputError(f"{path}: a folder, but not a {names} (no {markers} inside).")
    if not os.path.exists(path):
        raise InputError(f"{path}: no such model file or folder.")
    lower = path.lower()
    for f in _FORMATS.values():
        if f.suffix and lower.endswith(f.suffix):
            return f
    with open(path, "rb") as handle:
        head = handle.read(16)
    for f in _FORMATS.values():
        if f.magic is not None and f.magic(head):
            return f
    kinds = [
        f"a {f.suffix} file" if f.suffix else f"a {f.display_name} folder"
        for f in _FORMATS.values()
    ]
    kinds = " or ".join(filter(None, [", ".join(kinds[:-1]), kinds[-1]]))
    raise InputError(f"{path}: unknown model format; expected {kinds}.")


def _is_tflite(head):
    return head[4:8] == b"TFL3"


def _is_zip(head):
    return head[:2] == b"PK"


# What an exported SavedModel folder holds: `--overwrite` replaces a folder
# with nothing else in it, never one holding other files.
SAVED_MODEL_ENTRIES = (
    "saved_model.pb",
    "fingerprint.pb",
    "variables",
    "assets",
    "assets.extra",
)

KERAS = register_format(
    ArtifactFormat(
        name="keras",
        display_name="Keras",
        runner="keras_enlca.inference.keras_runner:KerasRunner",
        suffix=".keras",
        magic=_is_zip,
        description="a trained Keras model (what `enlca export` reads).",
    )
)
SAVED_MODEL = register_format(
    ArtifactFormat(
        name="savedmodel",
        display_name="SavedModel",
        runner="keras_enlca.inference.saved_model_runner:SavedModelRunner",
        exporter="keras_enlca.export.saved_model_exporter:export_saved_model_artifact",
        folder_marker="saved_model.pb",
        folder_entries=SAVED_MODEL_ENTRIES,
        embedded_metadata="keras_enlca.inference.metadata:saved_model_metadata",
        description="a TensorFlow SavedModel folder (TF Serving, TensorFlow).",
    )
)
TFLITE = register_format(
    ArtifactFormat(
        name="tflite",
        display_name="TFLite",
        runner="keras_enlca.inference.litert_runner:LiteRTRunner",
        exporter="keras_enlca.export.tflite_exporter:export_tflite_artifact",
        suffix=".tflite",
        magic=_is_tflite,
        quantizations=("none", "float16", "dynamic", "int8", "int16x8", "int8-full"),
        embedded_metadata="keras_enlca.inference.metadata:tflite_file_metadata",
        batch=1,
        threads=True,
        description="a LiteRT flatbuffer (phones, browsers, the base install).",
    )
)
ONNX = register_format(
    ArtifactFormat(
        name="onnx",
        display_name="ONNX",
        runner="keras_enlca.inference.onnx_runner:OnnxRunner",
        exporter="keras_enlca.export.onnx_exporter:export_onnx_artifact",
        suffix=".onnx",
        quantizations=("none", "float16"),
        embedded_metadata="keras_enlca.inference.onnx_runner:onnx_file_metadata",
        extra="onnx",
        threads=True,
        description="an ONNX model for ONNX Runtime (CPU, CUDA, TensorRT, "
        "DirectML, Core ML).",
    )
)
