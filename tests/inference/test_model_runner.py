import numpy as np
import pytest

from keras_enlca.errors import InputError
from keras_enlca.inference import KerasRunner
from keras_enlca.inference import LiteRTRunner
from keras_enlca.inference import SavedModelRunner
from keras_enlca.inference.loader import open_runner
from keras_enlca.inference.model_runner import probe_image
from keras_enlca.utils.image_conventions import to_uint8
from tests.export.artifacts import artifact
from tests.export.artifacts import lr_image
from tests.export.artifacts import tiny_model


def test_all_three_runners_share_one_interface():
    model, keras_path = tiny_model("edsr")
    runners = [
        open_runner(keras_path),
        open_runner(artifact("edsr", "savedmodel")),
        open_runner(artifact("edsr", "none")),
    ]
    assert [type(r) for r in runners] == [KerasRunner, SavedModelRunner, LiteRTRunner]
    assert [r.format for r in runners] == ["keras", "savedmodel", "tflite"]
    images = np.concatenate([lr_image(), lr_image(seed=5)], axis=0)
    expected = to_uint8(np.clip(model.predict(images, verbose=0), 0, 1))
    for runner in runners:
        assert runner.scale == 2
        out = runner(images)
        assert out.dtype == np.float32 and out.shape == (2, 42, 54, 3)
        assert 0.0 <= out.min() and out.max() <= 1.0
        assert np.abs(to_uint8(out).astype(int) - expected).max() <= 1
        # The same image alone (HWC) gives the same pixels.
        np.testing.assert_array_equal(to_uint8(runner(images[1])), to_uint8(out[1]))


def test_scale_checks_and_bad_shapes():
    runner = open_runner(artifact("edsr", "none"))
    runner.check_scale(2)
    with pytest.raises(InputError, match="x2 model, but --scale 4"):
        runner.check_scale(4)
    with pytest.raises(InputError, match="RGB"):
        runner(np.zeros((1, 8, 8, 4), np.float32))


def test_probe_image_is_not_black():
    image = probe_image((5, 7))
    assert image.shape == (1, 5, 7, 3) and image.min() >= 0.2 and image.max() <= 0.8
