"""Data parallelism on the JAX and PyTorch backends (`keras.distribution`).

`tf.distribute` is TensorFlow's; under JAX, `keras.distribution.DataParallel`
splits each global batch over the local devices (the same global-batch
gradients as one device). PyTorch trains on one device here.
`MultiWorkerMirroredStrategy` stays TensorFlow's.
"""

import contextlib

import keras

from keras_enlca.errors import InputError


class KerasDistribution:
    """What `enlca train` needs of a strategy, for JAX and PyTorch.

    `keras.distribution` is global: the distribution is set when this object
    is made and holds for the model built and trained after it.

    Args:
        devices: the devices of the distribution (one: no distribution).
    """

    def __init__(self, devices):
        self.devices = list(devices)
        self.num_replicas_in_sync = max(1, len(self.devices))
        if len(self.devices) > 1:
            keras.distribution.set_distribution(
                keras.distribution.DataParallel(devices=self.devices)
            )
        else:
            keras.distribution.set_distribution(None)

    def scope(self):
        return contextlib.nullcontext()


def keras_distribution(strategy="auto"):
    """The `KerasDistribution` for `strategy` on the current (non-TF) backend.

    `"auto"` and `"mirrored"`: all local devices (JAX); `"one_device"`: one.
    `"multi_worker"` is TensorFlow's and an error here.
    """
    backend = keras.backend.backend()
    if strategy == "multi_worker":
        raise InputError(
            "strategy 'multi_worker' is TensorFlow's MultiWorkerMirroredStrategy: "
            "use --backend tensorflow"
        )
    if backend != "jax" or strategy == "one_device":
        if strategy == "mirrored" and backend != "jax":
            raise InputError(
                f"strategy 'mirrored' needs the tensorflow or jax backend, not "
                f"{backend}"
            )
        return KerasDistribution([])
    return KerasDistribution(keras.distribution.list_devices())
