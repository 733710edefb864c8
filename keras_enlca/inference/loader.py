"""Which runner opens a model path: `model_format` and `open_runner`.

The runners' users (the CLI, `model_info`, the export verification) open
models here, so `ModelRunner` itself knows none of its subclasses.
"""

import os

from keras_enlca.errors import InputError

# What an exported SavedModel folder holds: `--overwrite` replaces a folder
# with nothing else in it, never one holding other files.
SAVED_MODEL_ENTRIES = (
    "saved_model.pb",
    "fingerprint.pb",
    "variables",
    "assets",
    "assets.extra",
)


def model_format(path):
    """`"keras"`, `"savedmodel"` or `"tflite"` for a model path.

    Raises `InputError` naming the path when it does not exist or is none of
    the three.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            return "savedmodel"
        raise InputError(
            f"{path}: a folder, but not a SavedModel (no saved_model.pb inside)."
        )
    if not os.path.exists(path):
        raise InputError(f"{path}: no such model file or folder.")
    lower = path.lower()
    if lower.endswith(".keras"):
        return "keras"
    if lower.endswith(".tflite"):
        return "tflite"
    with open(path, "rb") as f:
        head = f.read(8)
    if head[4:8] == b"TFL3":
        return "tflite"
    if head[:2] == b"PK":
        return "keras"
    raise InputError(
        f"{path}: unknown model format; expected a .keras file, a SavedModel folder "
        "or a .tflite file."
    )


def open_runner(path, **kwargs):
    """The runner for `path`: a `.keras` file, a SavedModel folder or a `.tflite`.

    A `KerasRunner`, `SavedModelRunner` or `LiteRTRunner` (see
    `ModelRunner`), chosen by `model_format(path)`. Only the module of the
    chosen runner is imported, so opening a `.tflite` imports no TensorFlow.

    Args:
        path: the model path.
        **kwargs: passed to the runner (e.g. `num_threads` for a `.tflite`).

    Example:

    ```python
    runner = open_runner("enlcn_x2.tflite", num_threads=2)
    sr = runner(lr)  # lr: (1, h, w, 3) float32 in [0, 1]
    ```
    """
    fmt = model_format(path)
    if fmt == "keras":
        from keras_enlca.inference.keras_runner import KerasRunner

        return KerasRunner(path, **kwargs)
    if fmt == "savedmodel":
        from keras_enlca.inference.saved_model_runner import SavedModelRunner

        return SavedModelRunner(path, **kwargs)
    from keras_enlca.inference.litert_runner import LiteRTRunner

    return LiteRTRunner(path, **kwargs)


def load_model_for_eval(spec, keras_only=False):
    """A `.keras` file, a SavedModel folder, a `.tflite` file or a preset name.

    What `enlca eval` and `enlca attention` open. Returns `(model,
    description)`. Keras files of this package's networks and presets give
    the Keras model itself (so chop can pick the network's reference
    variant); any other Keras model, SavedModel and `.tflite` give their
    runners (whose scale is measured: a model that is no RGB x2+ upscaler
    is an `InputError` naming it). `keras_only`: any `.keras` file gives
    the Keras model itself, whatever it does (`enlca attention` looks
    inside it).
    """
    if os.path.exists(spec):
        fmt = model_format(spec)
        if fmt == "keras":
            from keras_enlca.inference.keras_runner import KerasRunner
            from keras_enlca.inference.keras_runner import load_keras_model

            model = load_keras_model(spec)
            if getattr(model, "scale", None) is None and not keras_only:
                return KerasRunner(model, name=spec), os.path.basename(spec)
            return model, os.path.basename(spec)
        return open_runner(spec), os.path.basename(os.path.normpath(spec))
    if spec.lower().endswith((".keras", ".tflite")) or os.sep in spec:
        raise InputError(f"Model file not found: {spec}")
    from keras_enlca.models import from_preset
    from keras_enlca.models import list_presets

    if spec not in list_presets():
        raise InputError(
            f"{spec}: neither a model file nor a preset name "
            f"(presets: {', '.join(list_presets())})"
        )
    return from_preset(spec), f"{spec} (untrained)"
