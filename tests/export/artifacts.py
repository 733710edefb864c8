"""Tiny networks of every family and their exports, built once per session.

Conversions are the slow part of the export tests, so every artifact is
made at most once per test session and shared by `tests/export` and
`tests/cli` (a module-level cache, not a fixture, so that both folders see
the same files).
"""

import atexit
import os
import shutil
import tempfile

import keras
import numpy as np

from keras_enlca.data import sample_image_paths

# Tiny members of each family (the small presets with fewer, thinner blocks);
# NLSN/ENLCN keep two attention modules (body indices 0 and 3).
FAMILIES = {
    "edsr": ("edsr_small_x2", {"num_blocks": 1, "filters": 8}),
    "nlsn": ("nlsn_small_x2", {"num_blocks": 2, "filters": 16, "attention_every": 2}),
    "enlcn": ("enlcn_small_x2", {"num_blocks": 2, "filters": 16, "attention_every": 2}),
    "a2n": ("a2n_small_x2", {"num_blocks": 1, "filters": 12, "upsample_filters": 8}),
}
VARIANTS = ("savedmodel", "none", "float16", "dynamic", "int8")

_ROOT = None
_MODELS = {}
_ARTIFACTS = {}


def root():
    global _ROOT
    if _ROOT is None:
        _ROOT = tempfile.mkdtemp(prefix="enlca-export-tests-")
        atexit.register(shutil.rmtree, _ROOT, True)
    return _ROOT


def tiny_model(family):
    """`(model, path of its .keras file)` for a family, built once."""
    if family not in _MODELS:
        from keras_enlca.models import from_preset

        preset, overrides = FAMILIES[family]
        keras.utils.set_random_seed(7)
        model = from_preset(preset, **overrides)
        path = os.path.join(root(), f"{family}.keras")
        model.save(path)
        _MODELS[family] = (model, path)
    return _MODELS[family]


def calibration_dataset(size=None):
    from keras_enlca.export.calibration import calibration_crops
    from keras_enlca.export.calibration import representative_dataset

    crops = calibration_crops(
        sample_image_paths()[:4], num_crops=4, crop_size=32, seed=0
    )
    return representative_dataset(crops, size=size)


def artifact(family, variant, tile=None):
    """Path of `family` exported as `variant`.

    `variant` is `"savedmodel"` or a TFLite quantisation.
    """
    key = (family, variant, tile)
    if key not in _ARTIFACTS:
        from keras_enlca.export import export_saved_model
        from keras_enlca.export import export_tflite
        from keras_enlca.export.export_model import base_metadata

        model, path = tiny_model(family)
        suffix = f"_{tile[0]}x{tile[1]}" if tile else ""
        if variant == "savedmodel":
            out = os.path.join(root(), f"{family}{suffix}_savedmodel")
            metadata = base_metadata(
                model, "savedmodel", model.scale, tile, "none", path
            )
            export_saved_model(model, out, tile=tile, metadata=metadata)
        else:
            out = os.path.join(root(), f"{family}{suffix}_{variant}.tflite")
            metadata = base_metadata(model, "tflite", model.scale, tile, variant, path)
            export_tflite(
                model,
                out,
                quantize=variant,
                representative_dataset=calibration_dataset(tile)
                if variant == "int8"
                else None,
                tile=tile,
                metadata=metadata,
                source=path,
            )
        _ARTIFACTS[key] = out
    return _ARTIFACTS[key]


def lr_image(height=21, width=27, seed=0):
    """An 8-bit LR crop of a bundled photo as float32 (1, h, w, 3) in [0, 1].

    The default size is odd and not a calibration size, so dynamic-shape
    models run at a size they were never traced or calibrated with.
    """
    from keras_enlca.data import read_image

    image = read_image(sample_image_paths()[4])
    rng = np.random.default_rng(seed)
    y = int(rng.integers(0, image.shape[0] - height))
    x = int(rng.integers(0, image.shape[1] - width))
    return image[None, y : y + height, x : x + width].astype(np.float32) / 255.0
