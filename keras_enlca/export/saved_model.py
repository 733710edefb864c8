"""SavedModel export with a uint8 image-in, image-out serving signature."""

import contextlib
import os
import re
import shutil

import keras
import tensorflow as tf

from keras_enlca.errors import OutputError
from keras_enlca.errors import write_advice
from keras_enlca.errors import write_error
from keras_enlca.export.export_options import check_input_size
from keras_enlca.export.unknown_size_error import UnknownSizeError
from keras_enlca.inference.artifact_format import SAVED_MODEL_ENTRIES
from keras_enlca.inference.metadata import SAVED_MODEL_METADATA_FILE
from keras_enlca.inference.metadata import metadata_path
from keras_enlca.inference.metadata import write_metadata
from keras_enlca.utils.atomic import atomic_path
from keras_enlca.utils.outputs import check_output
from keras_enlca.utils.sublayers import sublayers

SERVING_INPUT = "images"
SERVING_OUTPUT = "upscaled"
FLOAT_SIGNATURE = "serving_float"
# Name scopes of the uint8 <-> float conversion around the network; the
# int8 quantiser keeps the post-processing in float (see tflite.py).
PREPROCESS_SCOPE = "enlca_preprocess"
POSTPROCESS_SCOPE = "enlca_postprocess"
# Reasons in TensorFlow's file-system errors that mean "cannot write here".
_WRITE_FAILURES = (
    "No space left on device",
    "Read-only file system",
    "Permission denied",
    "File too large",
    "Disk quota exceeded",
)


def _input_shape(tile, batch):
    if tile is None:
        return [batch, None, None, 3]
    height, width = tile
    return [batch, int(height), int(width), 3]


def check_tile(tile, option="--tile"):
    """Returns `tile` as a `(height, width)` tuple of ints, or None (the
    fixed input size of the Python API's `tile=` arguments)."""
    return check_input_size(tile, option)


def _float32_config(value):
    """`value` (a Keras config) with every dtype policy replaced by float32."""
    if isinstance(value, dict):
        if value.get("class_name") in (
            "DTypePolicy",
            "FloatDTypePolicy",
        ) and isinstance(value.get("config"), dict):
            return {**value, "config": {**value["config"], "name": "float32"}}
        return {k: _float32_config(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_float32_config(v) for v in value]
    if value in ("mixed_float16", "mixed_bfloat16", "float16", "bfloat16"):
        return "float32"
    return value


def float32_model(model):
    """`model` itself if it computes in float32, else a float32 copy.

    A model trained with `mixed_float16` computes in float16, which TFLite
    builtins do not run (the conversion would need Flex ops) and which adds
    rounding noise to a SavedModel; exports use the same architecture and
    weights (stored in float32 anyway) in float32.
    """
    policies = {
        layer.dtype_policy.compute_dtype
        for layer in sublayers(model, include_self=True)
    }
    if policies <= {"float32"}:
        return model
    config = _float32_config(model.get_config())
    copy = type(model).from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def uint8_serving_function(model, tile=None, batch=None):
    """A `tf.function` running `model` on uint8 RGB images, returning uint8.

    The function takes a `(batch, height, width, 3)` uint8 tensor (pixels
    0..255; any height and width unless `tile` fixes them), feeds the model
    `images / 255` and turns its float output back into pixels inside the
    graph: `floor(clip(output, 0, 1) * 255 + 0.5)` cast to uint8. It returns a
    dict `{"upscaled": uint8 tensor}`. This is the graph that the SavedModel
    serves and that the TFLite converter translates.

    Args:
        model: a Keras model mapping NHWC float32 RGB in [0, 1] to the
            upscaled image in [0, 1] (any model of `keras_enlca.models`).
        tile: None for dynamic height and width, or `(height, width)` to fix
            the input size.
        batch: the batch dimension of the signature (None for any).
    """

    @tf.function(
        input_signature=[
            tf.TensorSpec(_input_shape(tile, batch), tf.uint8, name=SERVING_INPUT)
        ]
    )
    def serve(images):
        with tf.name_scope(PREPROCESS_SCOPE):
            x = tf.cast(images, tf.float32) / 255.0
        y = model(x, training=False)
        with tf.name_scope(POSTPROCESS_SCOPE):
            # Round half up, as MATLAB's uint8() and keras_enlca.data.write_image.
            y = tf.cast(y, tf.float32)
            y = tf.floor(tf.clip_by_value(y, 0.0, 1.0) * 255.0 + 0.5)
            return {SERVING_OUTPUT: tf.cast(y, tf.uint8)}

    return serve


def float_serving_function(model, tile=None, batch=None):
    """A `tf.function` running `model` on float32 [0, 1] images (no rounding).

    Returns `{"upscaled": float32 tensor}`, the model's raw output: useful to
    compare an exported model with the Keras one without 8-bit quantisation.
    """

    @tf.function(
        input_signature=[
            tf.TensorSpec(_input_shape(tile, batch), tf.float32, name=SERVING_INPUT)
        ]
    )
    def serve_float(images):
        return {SERVING_OUTPUT: tf.cast(model(images, training=False), tf.float32)}

    return serve_float


@contextlib.contextmanager
def traced_for_any_size(tile):
    """Turns the failure to trace a serving function at unknown height and
    width (`tile` None) into an `UnknownSizeError` naming the layer (one
    line, and the flag that fixes it); other errors pass."""
    try:
        yield
    except (TypeError, ValueError, tf.errors.OperatorNotAllowedInGraphError) as error:
        if tile is not None:
            raise
        # A layer that needs a known height and width (Keras' bilinear
        # UpSampling2D).
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        layer = next((line for line in lines if "when calling" in line), "")
        where = layer.split("calling ", 1)[-1].rstrip(".") if layer else "a layer"
        raise UnknownSizeError(where) from None


def write_serving_saved_model(model, path, tile=None, batch=None, include_float=True):
    """Writes a SavedModel of `model` with the uint8 serving signature.

    `serving_default` is `uint8_serving_function(model, tile, batch)`; with
    `include_float`, a second signature `serving_float` maps float32 [0, 1]
    images to the raw float output. Not atomic (see `export_saved_model`).
    """
    model = float32_model(model)
    archive = keras.export.ExportArchive()
    archive.track(model)
    with traced_for_any_size(tile):
        archive.add_endpoint(
            "serving_default", uint8_serving_function(model, tile, batch)
        )
    if include_float:
        archive.add_endpoint(
            FLOAT_SIGNATURE, float_serving_function(model, tile, batch)
        )
    archive.write_out(os.fspath(path), verbose=False)


def tf_write_error(path, error, temporary=None):
    """An `OutputError` naming `path` for a TensorFlow write failure, or None.

    `error` is a `tf.errors.OpError`; None is returned unless its message
    is a file-system failure (full disk, read-only, permission, size
    limit). `temporary`: the folder the failing write went to, when it was
    not `path` itself (a conversion's scratch folder).
    """
    text = str(error)
    for reason in _WRITE_FAILURES:
        if re.search(re.escape(reason), text, re.IGNORECASE):
            advice = write_advice(reason)
            if temporary is None:  # the message `write_error` gives
                return write_error(path, OSError(None, reason))
            if reason in ("File too large",):  # a limit of the process, not a place
                return OutputError(
                    f"{path}: cannot write the conversion's temporary files in "
                    f"{temporary} ({reason}); {advice}."
                )
            return OutputError(
                f"{path}: cannot write the conversion's temporary files in {temporary} "
                f"({reason}); {advice}, or set TMPDIR to another folder."
            )
    return None


def write_saved_model_folder(model, path, tile=None, metadata=None, overwrite=False):
    """Writes the SavedModel folder atomically, `metadata` inside it.

    `path` must have been checked (`check_output`); `metadata` goes to
    `assets.extra/keras_enlca.json` (not beside the folder).
    """
    with atomic_path(path, is_dir=True, overwrite=overwrite) as tmp:
        try:
            write_serving_saved_model(model, tmp, tile=tile)
        except tf.errors.OpError as error:
            translated = tf_write_error(path, error)
            if translated is None:
                raise
            raise translated from None
        if metadata is not None:
            os.makedirs(os.path.join(tmp, "assets.extra"), exist_ok=True)
            write_metadata(
                os.path.join(tmp, "assets.extra", SAVED_MODEL_METADATA_FILE),
                metadata,
                atomic=False,
            )
    return path


def export_saved_model(model, path, tile=None, metadata=None, overwrite=False):
    """Exports `model` as a SavedModel serving uint8 RGB images.

    The SavedModel folder has two signatures:

    - `serving_default`: `images` uint8 `(batch, height, width, 3)` (any
      size, or the fixed `tile`) -> `upscaled` uint8
      `(batch, scale * height, scale * width, 3)`; clipping and rounding
      happen in the graph.
    - `serving_float`: the same on float32 [0, 1] images, returning the
      network's raw float output.

    The folder is written atomically. `metadata` (a dict, see
    `keras_enlca.inference.metadata`) is stored as `<path>.json` beside the
    folder and as `assets.extra/keras_enlca.json` inside it.

    Args:
        model: a Keras model, NHWC float32 [0, 1] -> NHWC float32 [0, 1].
        path: the SavedModel folder to write.
        tile: None (any input size) or `(height, width)`.
        metadata: dict or None.
        overwrite: replace an earlier SavedModel export at `path` (a folder
            holding only SavedModel files) and its JSON; otherwise an
            existing non-empty folder or JSON is an error.

    Returns:
        The path of the SavedModel folder.

    Raises:
        OutputError: `path` exists (see `keras_enlca.utils.outputs.
            check_output`) or cannot be written (full disk, read-only);
            nothing is left at `path` then.

    Example:

    ```python
    model = keras_enlca.models.from_preset("enlcn_small_x2")
    export_saved_model(model, "enlcn_x2_savedmodel")
    served = tf.saved_model.load("enlcn_x2_savedmodel")
    out = served.signatures["serving_default"](images=np.zeros((1, 32, 32, 3), "uint8"))
    # out["upscaled"].shape == (1, 64, 64, 3), dtype uint8
    ```
    """
    tile = check_tile(tile)
    sidecars = [metadata_path(path)] if metadata is not None else []
    path = check_output(
        path,
        overwrite=overwrite,
        folder=True,
        artifact_entries=SAVED_MODEL_ENTRIES,
        sidecars=sidecars,
    )
    write_saved_model_folder(model, path, tile, metadata, overwrite)
    if metadata is not None:
        try:
            write_metadata(metadata_path(path), metadata)
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)  # ours: written just above
            raise
    return path
