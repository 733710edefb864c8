"""Which runner opens a model path: `model_format` and `open_runner`.

The runners' users (the CLI, `model_info`, the export verification) open
models here, so `ModelRunner` itself knows none of its subclasses: the
format table (`keras_enlca.inference.artifact_format`) names them.
"""

from keras_enlca.errors import InputError
from keras_enlca.inference.artifact_format import SAVED_MODEL_ENTRIES  # noqa: F401 - public here too
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
