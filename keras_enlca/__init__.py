"""keras-enlca: non-local attention for image super-resolution in Keras 3.

Importing the package is cheap and has no side effects: the subpackages
(`layers`, `models`, `training`, ...) and `__version__` load on first use
(PEP 562), and nothing here touches `os.environ`. The TensorFlow-bound
subpackages need the `[cpu]` or `[gpu]` extra; `inference`'s LiteRT runner and
tiler, `evaluation`'s NumPy metrics and `data`'s image I/O do not.

Keras picks the TensorFlow backend by default; the layers use TensorFlow ops
directly, so another `KERAS_BACKEND` is not supported.

A `.keras` file of this package loads once its classes are registered:
touch `keras_enlca.models` (it imports `keras_enlca.layers`) before
`keras.saving.load_model`.

Example:

```python
import keras_enlca

model = keras_enlca.models.from_preset("enlcn_small_x2")
```
"""

import importlib

SUBPACKAGES = (
    "convert",
    "data",
    "errors",
    "evaluation",
    "export",
    "inference",
    "layers",
    "models",
    "training",
    "utils",
    "version",
    "visualization",
)


def __getattr__(name):
    if name == "__version__":
        from keras_enlca.version import __version__

        return __version__
    if name not in SUBPACKAGES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as error:
        from keras_enlca.errors import missing_tensorflow_message

        message = missing_tensorflow_message(error, f"keras_enlca.{name}")
        if message is None:
            raise
        raise ImportError(message) from error
    globals()[name] = module
    return module


def __dir__():
    return sorted({*globals(), "__version__", *SUBPACKAGES})
