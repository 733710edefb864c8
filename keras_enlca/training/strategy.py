"""Choosing a `tf.distribute` strategy."""

import tensorflow as tf

from keras_enlca.errors import InputError
from keras_enlca.training.config import STRATEGIES

# One MirroredStrategy per device list and process: a second instance over
# the same devices can reuse the first one's collective-op keys, and its
# eager all-reduces (`run_eagerly=True`) then fail with a shape mismatch.
_MIRRORED = {}


def _mirrored(devices):
    devices = tuple(devices)
    if devices not in _MIRRORED:
        _MIRRORED[devices] = tf.distribute.MirroredStrategy(list(devices))
    return _MIRRORED[devices]


def get_strategy(strategy="auto", devices=None):
    """Return the `tf.distribute.Strategy` to build and train a model in.

    `"auto"` gives a `MirroredStrategy` over all visible GPUs when there is
    more than one, and the default (single-device) strategy otherwise.
    `"mirrored"` always mirrors, over `devices` if given, else over the
    visible GPUs, else over the logical CPUs (useful for tests with several
    logical CPU devices). `"one_device"` is the default strategy. Mirrored
    strategies are created once per device list and reused.

    Build and compile the model inside `strategy.scope()`; `fit` then splits
    each global batch over the replicas. `MirroredStrategy` is the only
    multi-device strategy supported: `MultiWorkerMirroredStrategy` fails
    with Keras 3 `fit` (keras issue 20585).

    Args:
        strategy: `"auto"`, `"one_device"`, `"mirrored"` or a
            `tf.distribute.Strategy` (returned as is).
        devices: optional list of device names for `"mirrored"`, e.g.
            `["/gpu:0", "/gpu:1"]`.

    Returns:
        A `tf.distribute.Strategy`.

    Example:

    ```python
    strategy = keras_enlca.training.get_strategy()
    with strategy.scope():
        model = keras_enlca.models.from_preset("enlcn_small_x2")
        model.compile()
    model.fit(dataset, epochs=10)
    ```
    """
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy not in STRATEGIES:
        raise InputError(
            f"Unknown strategy '{strategy}'. Use one of: {', '.join(STRATEGIES)}."
        )
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if strategy == "one_device":
        return tf.distribute.get_strategy()
    if strategy == "auto":
        if len(gpus) > 1:
            return _mirrored(gpus)
        return tf.distribute.get_strategy()
    if devices is None:
        devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
    return _mirrored(devices)
