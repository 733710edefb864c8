import os
import zipfile

import numpy as np

from keras_enlca.errors import InputError
from keras_enlca.inference.model_runner import ModelRunner
from keras_enlca.inference.model_runner import checked_scale


def load_keras_model(path):
    """Loads a `.keras` file; an unreadable file is an `InputError`."""
    import keras

    import keras_enlca.layers  # noqa: F401 - registers the layers
    import keras_enlca.models  # noqa: F401 - registers the networks

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such .keras file.")
    if not zipfile.is_zipfile(path):
        # Keras would report "File not found" for a file that is there.
        size = os.path.getsize(path)
        what = f"{size} bytes of something else, or truncated" if size else "empty"
        raise InputError(
            f"{path}: not a .keras model (a .keras file is a zip archive; this one is "
            f"{what})."
        )
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as error:  # noqa: BLE001 - any failure means a bad file
        first = (
            str(error).strip().splitlines()[0]
            if str(error).strip()
            else type(error).__name__
        )
        raise InputError(f"{path}: cannot load the Keras model ({first}).") from None
    check_rgb_model(model, path)
    return model


def _channels(tensors):
    try:
        shape = tuple(tensors[0].shape) if tensors else ()
    except (AttributeError, TypeError, IndexError):
        return None
    return shape[-1] if len(shape) == 4 else None


def check_rgb_model(model, name):
    """Raises `InputError` (one line naming `name`) unless `model` maps
    NHWC RGB images to RGB images (3 channels in and out)."""
    for side, tensors in (
        ("inputs", getattr(model, "inputs", None)),
        ("outputs", getattr(model, "outputs", None)),
    ):
        channels = _channels(tensors)
        if channels is not None and channels != 3:
            raise InputError(
                f"{name}: the model's {side} have {channels} channel"
                f"{'s' if channels != 1 else ''}; enlca needs a super-resolution "
                "model with RGB (3-channel) NHWC inputs and outputs."
            )


def infer_scale(fn, probe=24, name="the model"):
    """The upscaling factor of `fn` (NHWC -> NHWC), found by running it once."""
    out = fn(np.zeros((1, probe, probe, 3), np.float32))
    return checked_scale(np.shape(out)[1], probe, name)


def parameter_count(model):
    """Parameters as the reference code counts them (`count_parameters`)."""
    try:
        from keras_enlca.models import count_parameters

        return int(count_parameters(model))
    except (ImportError, AttributeError, TypeError):
        return int(sum(int(np.prod(w.shape)) for w in model.weights))


def keras_forward(model):
    """The forward pass of a Keras model as a NumPy function, in graph mode.

    The one Keras-model-to-NumPy wrapper of the package: `KerasRunner`
    clips its output to [0, 1]; `keras_enlca.evaluation.evaluate` uses it
    as is (it clips and rounds after chopping, tiling or self-ensembling).

    The model is called with `training=False` in one concrete function
    traced for any height and width (no retracing). Some layers cannot be
    traced with an unknown height and width (Keras' bilinear
    `UpSampling2D`); those models get one trace per input shape instead
    (the tiler uses one or a few shapes).

    Args:
        model: a `keras.Model` taking NHWC float32 images.

    Returns:
        `forward(images)`: NHWC float32 array -> the model's output as an
        NHWC float32 NumPy array (not clipped).

    Example:

    ```python
    forward = keras_forward(keras_enlca.models.from_preset("edsr_baseline_x2"))
    sr = forward(np.random.rand(1, 32, 32, 3).astype("float32"))
    # sr.shape == (1, 64, 64, 3)
    ```
    """
    import tensorflow as tf

    def call(images):
        return tf.cast(model(images, training=False), tf.float32)

    try:
        fn = tf.function(
            call, input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)]
        ).get_concrete_function()
    except (
        TypeError,
        ValueError,
        NotImplementedError,
        tf.errors.OperatorNotAllowedInGraphError,
    ):
        fn = tf.function(call)

    def forward(images):
        return fn(tf.constant(np.asarray(images, dtype=np.float32))).numpy()

    return forward


class KerasRunner(ModelRunner):
    """Runs a Keras super-resolution model (a `.keras` file or a model).

    Inputs are NHWC float32 RGB in [0, 1] of any size; the output is the
    network's float output clipped to [0, 1] (not rounded to 8 bits). The
    model runs in graph mode through `keras_forward`: traced once for any
    height and width (or once per input shape for models that cannot be
    traced with dynamic sizes).

    Args:
        model: a path to a `.keras` file or a `keras.Model`.
        name: how messages name a `keras.Model` (its file). Defaults to
            the path, or the model's name.

    Call arguments:
        images: NHWC (or HWC) float32 RGB array in [0, 1].

    Example:

    ```python
    runner = KerasRunner("enlcn_small_x2.keras")
    sr = runner(np.random.rand(1, 32, 32, 3).astype("float32"))
    # sr.shape == (1, 64, 64, 3)
    ```
    """

    format = "keras"

    def __init__(self, model, name=None):
        import keras

        path = name
        if not isinstance(model, keras.Model):
            path = os.fspath(model)
            model = load_keras_model(path)
        else:
            check_rgb_model(model, name or model.name)
        self.model = model
        self._forward = keras_forward(model)
        scale = getattr(model, "scale", None)
        if scale is None:
            scale = infer_scale(
                self._forward, name=path if path is not None else model.name
            )
        super().__init__(path if path is not None else model.name, scale)

    def run_batch(self, images):
        return np.clip(self._forward(images), 0.0, 1.0)

    def describe(self):
        model = self.model
        config = model.get_config() if hasattr(model, "get_config") else {}
        return {
            "format": "keras",
            "network": type(model).__name__,
            "preset": getattr(model, "preset", None) or config.get("preset"),
            "scale": self.scale,
            "parameters": parameter_count(model),
            "input": {
                "dtype": "float32",
                "range": [0.0, 1.0],
                "layout": "NHWC RGB",
                "shape": [None, None, None, 3],
            },
            "rgb_range": config.get("rgb_range"),
        }
