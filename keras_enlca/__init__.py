"""keras-enlca: non-local attention for image super-resolution in Keras 3."""

import os as _os

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:
    import tensorflow as _tf  # noqa: F401
except ImportError as _error:  # pragma: no cover - depends on the install
    raise ImportError(
        "keras-enlca needs TensorFlow. Install it with "
        "`pip install keras-enlca[cpu]` (CPU) or `pip install keras-enlca[gpu]` "
        "(NVIDIA GPU)."
    ) from _error

from keras_enlca import layers  # noqa: E402
from keras_enlca import models  # noqa: E402
from keras_enlca import training  # noqa: E402
from keras_enlca.version import __version__  # noqa: E402,F401
