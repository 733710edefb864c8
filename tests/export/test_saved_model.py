import json
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_enlca.errors import InputError
from keras_enlca.evaluation.metrics import psnr
from keras_enlca.export import export_saved_model
from keras_enlca.inference import SavedModelRunner
from keras_enlca.inference import read_artifact_metadata
from keras_enlca.inference.loader import open_runner
from keras_enlca.inference.metadata import metadata_path
from tests.export.artifacts import FAMILIES
from tests.export.artifacts import artifact
from tests.export.artifacts import lr_image
from tests.export.artifacts import tiny_model


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_serving_signature_is_uint8_in_uint8_out_at_any_size(family):
    path = artifact(family, "savedmodel")
    served = tf.saved_model.load(path)
    signature = served.signatures["serving_default"]
    spec = signature.structured_input_signature[1]["images"]
    assert spec.dtype == tf.uint8 and spec.shape.as_list() == [None, None, None, 3]

    model, _ = tiny_model(family)
    images = lr_image()
    batch = np.concatenate([images, images[:, ::-1]], axis=0)  # two different images
    pixels = np.round(batch * 255).astype(np.uint8)
    out = signature(images=tf.constant(pixels))["upscaled"].numpy()
    assert out.dtype == np.uint8 and out.shape == (2, 42, 54, 3)
    expected = np.clip(model.predict(batch, verbose=0), 0, 1)
    expected = np.floor(expected * 255 + 0.5).astype(np.uint8)
    # Same graph, same float32 math: at most a rounding tie differs.
    assert np.abs(out.astype(int) - expected).max() <= 1
    assert np.mean(out != expected) < 1e-3

    # The float signature returns the network's raw output.
    raw = served.signatures["serving_float"](images=tf.constant(batch))[
        "upscaled"
    ].numpy()
    np.testing.assert_allclose(raw, model.predict(batch, verbose=0), atol=2e-5)


def test_runner_and_metadata(tmp_path):
    path = artifact("enlcn", "savedmodel")
    runner = open_runner(path)
    assert isinstance(runner, SavedModelRunner) and runner.scale == 2
    assert runner.input_size is None
    model, keras_path = tiny_model("enlcn")
    images = lr_image(18, 23)
    assert psnr(runner(images)[0], model.predict(images, verbose=0)[0], shave=2) >= 80.0
    # HWC in, HWC out.
    assert runner(images[0]).shape == (36, 46, 3)

    metadata = read_artifact_metadata(path)
    assert metadata["format"] == "savedmodel" and metadata["network"] == "ENLCN"
    assert metadata["source_model"] == keras_path
    with open(os.path.join(path, "assets.extra", "keras_enlca.json")) as f:
        assert json.load(f) == metadata
    with open(metadata_path(path)) as f:
        assert json.load(f) == metadata


def test_fixed_tile_and_write_errors(tmp_path):
    model, _ = tiny_model("edsr")
    out = tmp_path / "fixed"
    export_saved_model(model, out, tile=(12, 10))
    runner = SavedModelRunner(out)
    assert runner.input_size == (12, 10) and runner.scale == 2
    spec = runner.signature.structured_input_signature[1]["images"]
    assert spec.shape.as_list() == [None, 12, 10, 3]
    assert not os.path.exists(metadata_path(out))  # no metadata given
    with pytest.raises(InputError, match="12x10"):
        runner(lr_image(13, 10))

    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="folder"):
        export_saved_model(model, tmp_path / "file")
    with pytest.raises(InputError, match="tile"):
        export_saved_model(model, tmp_path / "bad", tile=(0, 4))
    # Nothing half-written is left behind.
    assert sorted(os.listdir(tmp_path)) == ["file", "fixed"]


def test_an_existing_folder_is_replaced_only_when_it_is_an_earlier_export(tmp_path):
    model, _ = tiny_model("edsr")
    out = tmp_path / "sm"
    export_saved_model(model, out, metadata={"scale": 2})
    first = sorted(os.listdir(out))
    with pytest.raises(
        InputError, match="not empty; choose a new name, or pass --overwrite"
    ):
        export_saved_model(model, out, metadata={"scale": 2})
    stamp = os.stat(out / "saved_model.pb").st_mtime_ns
    export_saved_model(model, out, metadata={"scale": 2}, overwrite=True)
    assert (
        sorted(os.listdir(out)) == first
        and os.stat(out / "saved_model.pb").st_mtime_ns != stamp
    )
    (out / "notes.txt").write_text("precious")  # a user's file inside: never replaced
    with pytest.raises(InputError, match=r"not part of the output \(notes.txt\)"):
        export_saved_model(model, out, overwrite=True)
    assert (out / "notes.txt").read_text() == "precious"
    assert sorted(os.listdir(tmp_path)) == ["sm", "sm.json"]  # no temporary or old copy
