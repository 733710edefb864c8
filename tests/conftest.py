"""Test-session set-up shared by every test.

The backend is `KERAS_BACKEND` (TensorFlow where unset); `.ci/run` runs the
layer, network and training-step tests again under JAX and PyTorch. Tests
that need TensorFlow itself (tf.distribute, export, tf.data) are marked
`tensorflow_only` (or sit in a module that sets `pytestmark`) and skip under
the other backends.

On TensorFlow, two logical CPU devices stand in for two GPUs so that
`tf.distribute` tests run real `MirroredStrategy` replicas. This must happen
before TensorFlow initialises its devices, hence at import time of the
conftest.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

BACKEND = os.environ["KERAS_BACKEND"]

if BACKEND == "tensorflow":
    import tensorflow as tf

    _cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        _cpus[0],
        [
            tf.config.LogicalDeviceConfiguration(),
            tf.config.LogicalDeviceConfiguration(),
        ],
    )

import keras  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if BACKEND == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"TensorFlow only (KERAS_BACKEND={BACKEND})")
    for item in items:
        if item.get_closest_marker("tensorflow_only"):
            item.add_marker(skip)


# Every test and every module-scoped fixture starts from this seed.
SEED = 1234


@pytest.fixture(autouse=True, scope="module")
def _seed_module_fixtures():
    """Module-scoped fixtures draw from a fixed seed too.

    They run before the first test's `_reset_keras_state`, so without this
    their random weights depend on which tests ran before (and on which of
    those skipped on this machine).
    """
    keras.utils.set_random_seed(SEED)


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """Every test starts in float32 with fresh names and a fixed seed.

    `free_memory=False` skips the full `gc.collect()` (~0.5 s a test);
    Python's own collector still runs.
    """
    keras.mixed_precision.set_global_policy("float32")
    keras.utils.clear_session(free_memory=False)
    keras.utils.set_random_seed(SEED)
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
