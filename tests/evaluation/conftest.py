import keras
import pytest


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """As the top-level fixture, without the ~0.5 s `gc.collect()` per test.

    These tests build few Keras objects; `clear_session(free_memory=False)`
    resets names and the graph without a full garbage collection.
    """
    keras.mixed_precision.set_global_policy("float32")
    keras.utils.clear_session(free_memory=False)
    keras.utils.set_random_seed(1234)
    yield
    keras.mixed_precision.set_global_policy("float32")
