"""keras-enlca: non-local attention for image super-resolution in Keras 3.

Importing the package is cheap: the subpackages (`layers`, `models`,
`training`, ...) and `__version__` load on first use (PEP 562), and nothing
here touches `os.environ`. The TensorFlow-bound subpackages need the `[cpu]`
or `[gpu]` extra; `inference`'s LiteRT runner and tiler, `evaluation`'s NumPy
metrics and `data`'s image I/O do not.

Layers, networks and training run under every Keras backend (`KERAS_BACKEND`
= `tensorflow`, the default, `jax` or `torch`); export is TensorFlow's.

Importing the package registers its Keras classes (networks, layers,
optimizer, schedules, metrics, callbacks) so that plain
`keras.saving.load_model` finds them (`safe_mode=True` included): at once if
Keras is already imported, else right after Keras is first imported. So
`enlca --help` and the LiteRT-only install never import Keras.

Example:

```python
import keras_enlca

model = keras_enlca.models.from_preset("enlcn_small_x2")
```
"""

import importlib
import importlib.abc
import importlib.util
import sys

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


# The modules defining `register_keras_serializable` classes (tested).
SERIALIZABLE_MODULES = (
    "keras_enlca.models",
    "keras_enlca.models.reference_adam",
    "keras_enlca.training.step_decay",
    "keras_enlca.training.projection_redraw",
    "keras_enlca.evaluation.psnr_metric",
    "keras_enlca.evaluation.ssim_metric",
)


def register_keras_objects():
    """Imports the modules that register this package's Keras classes.

    Called by `import keras_enlca` once Keras is imported. A partial install
    (a module's own dependency missing) registers what it can.
    """
    for module in SERIALIZABLE_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:
            pass


class _RegisterAfterKeras(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Runs `register_keras_objects` right after `keras` is imported."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("keras")
        if spec is None or spec.loader is None:
            return spec
        self._loader = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        register_keras_objects()


def _register_keras_objects_when_keras_imports():
    if "keras" in sys.modules:
        register_keras_objects()
    elif not any(isinstance(f, _RegisterAfterKeras) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterKeras())


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


_register_keras_objects_when_keras_imports()
