"""Package namespaces whose public names load on first use (PEP 562).

`keras_enlca.inference`, `keras_enlca.export` and `keras_enlca.evaluation`
hold TensorFlow-free parts (the LiteRT runner, the tiler, the NumPy metrics)
and TensorFlow-bound ones (the Keras runner, converters, Keras metrics).
Their `__init__` lists every public name with the module defining it; a
name's module is imported when the name is first read, so the
TensorFlow-free parts work in an install without TensorFlow and importing
them stays fast.
"""

import importlib
import sys
import types


class _LazyPackage(types.ModuleType):
    def __getattr__(self, name):
        exports = self.__dict__["_lazy_exports"]
        if name not in exports:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        module = exports[name]
        if "." not in module:
            module = f"{self.__name__}.{module}"
        module = importlib.import_module(module)
        value = getattr(module, name)
        setattr(self, name, value)
        return value

    def __setattr__(self, name, value):
        # Importing submodule `export_model` makes the import system bind the
        # module to the package's `export_model`: keep the public function of
        # that name, as an eager `from .export_model import export_model` did.
        exports = self.__dict__.get("_lazy_exports", {})
        if isinstance(value, types.ModuleType) and exports.get(name) == name:
            value = getattr(value, name, value)
        super().__setattr__(name, value)

    def __dir__(self):
        return sorted({*self.__dict__, *self.__dict__["_lazy_exports"]})


def lazy_exports(package_name, exports):
    """Makes package `package_name` import `exports` (name -> module) lazily.

    A module is named relative to the package (`"model_runner"`) or in full
    (`"keras_enlca.models.sr_model"`).

    Call it at the end of the package's `__init__.py`.

    Example:

    ```python
    EXPORTS = {"ModelRunner": "model_runner", "open_runner": "loader"}
    __all__ = sorted(EXPORTS)
    lazy_exports(__name__, EXPORTS)
    ```
    """
    package = sys.modules[package_name]
    package.__dict__["_lazy_exports"] = dict(exports)
    package.__class__ = _LazyPackage
