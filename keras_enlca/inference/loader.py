"""Which runner opens a model path: `model_format` and `open_runner`.

The runners' users (the CLI, `model_info`, the export verification) open
models here, so `ModelRunner` itself knows none of its subclasses: the
format table (`keras_enlca.inference.artifact_format`) names them.
"""

import os

from keras_enlca.errors import InputError
from keras_enlca.inference.artifact_format import SAVED_MODEL_ENTRIES  # noqa: F401 - public here too
from keras_enlca.inference.artifact_format import artifact_formats
from keras_enlca.inference.artifact_format import format_of_path


def model_format(path):
    """The format name of a model path: `"keras"`, `"savedmodel"`, `"tflite"`,
    `"onnx"` or any registered format.

    Raises `InputError` naming the path when it does not exist or is of no
    registered format.
    """
    return format_of_path(path).name


def open_runner(path, **kwargs):
    """The runner for `path`: a `.keras` file, a SavedModel folder, a `.tflite`,
    a `.onnx` or any registered format.

    A `KerasRunner`, `SavedModelRunner`, `LiteRTRunner`, `OnnxRunner`...
    (see `ModelRunner`), chosen by the format table. Only the module of the
    chosen runner is imported, so opening a `.tflite` or `.onnx` imports no
    TensorFlow. A runtime that is not installed is an `InputError` naming
    the extra to install.

    Args:
        path: the model path.
        **kwargs: passed to the runner (e.g. `num_threads` for a `.tflite`).

    Example:

    ```python
    runner = open_runner("enlcn_x2.tflite", num_threads=2)
    sr = runner(lr)  # lr: (1, h, w, 3) float32 in [0, 1]
    ```
    """
    artifact_format = format_of_path(path)
    try:
        runner_class = artifact_format.load("runner")
    except ModuleNotFoundError as error:
        if artifact_format.extra is None or (error.name or "").startswith(
            "keras_enlca"
        ):
            raise
        raise InputError(
            f"{path}: running {artifact_format.display_name} models needs "
            f"{error.name}, which this install lacks; install it with "
            f"pip install 'keras-enlca[{artifact_format.extra}]'."
        ) from None
    return runner_class(path, **kwargs)


def load_model_for_eval(spec, keras_only=False):
    """A model path of any format (`.keras`, SavedModel, `.tflite`, `.onnx`...)
    or a preset name.

    What `enlca eval` and `enlca attention` open. Returns `(model,
    description)`. Keras files of this package's networks and presets give
    the Keras model itself (so chop can pick the network's reference
    variant); any other Keras model and the exported formats give their
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
    suffixes = tuple(f.suffix for f in artifact_formats() if f.suffix)
    if spec.lower().endswith(suffixes) or os.sep in spec:
        raise InputError(f"Model file not found: {spec}")
    from keras_enlca.models import from_preset
    from keras_enlca.models import list_presets

    if spec not in list_presets():
        raise InputError(
            f"{spec}: neither a model file nor a preset name "
            f"(presets: {', '.join(list_presets())})"
        )
    return from_preset(spec), f"{spec} (untrained)"
