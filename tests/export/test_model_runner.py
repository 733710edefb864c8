import numpy as np
import pytest

from keras_enlca.errors import InputError
from keras_enlca.export import KerasRunner
from keras_enlca.export import LiteRTRunner
from keras_enlca.export import ModelRunner
from keras_enlca.export import SavedModelRunner
from keras_enlca.export import model_format
from keras_enlca.export.model_runner import probe_image
from keras_enlca.export.model_runner import to_uint8
from tests.export.artifacts import artifact
from tests.export.artifacts import lr_image
from tests.export.artifacts import tiny_model


def test_format_detection_and_errors(tmp_path):
    _, keras_path = tiny_model("edsr")
    tflite = artifact("edsr", "none")
    saved = artifact("edsr", "savedmodel")
    assert model_format(keras_path) == "keras"
    assert model_format(tflite) == "tflite"
    assert model_format(saved) == "savedmodel"
    # Content decides when the extension does not.
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(open(tflite, "rb").read())
    assert model_format(renamed) == "tflite"

    with pytest.raises(InputError, match="no such model"):
        model_format(tmp_path / "missing.tflite")
    (tmp_path / "folder").mkdir()
    with pytest.raises(InputError, match="not a SavedModel"):
        model_format(tmp_path / "folder")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="unknown model format"):
        model_format(tmp_path / "notes.txt")
    (tmp_path / "broken.tflite").write_bytes(b"\0" * 64)
    with pytest.raises(InputError, match="not a TFLite flatbuffer"):
        ModelRunner.load(tmp_path / "broken.tflite")
    (tmp_path / "broken.keras").write_bytes(b"PK\3\4 not a zip")
    with pytest.raises(InputError, match="not a .keras model .* 14 bytes"):
        ModelRunner.load(tmp_path / "broken.keras")


def test_every_truncation_of_a_model_file_is_a_one_line_error(tmp_path):
    """A .tflite or .keras cut anywhere is an `InputError` naming the file.

    Before: a .tflite cut short raised `struct.error: unpack_from requires a
    buffer...` and a .keras that is not a zip said "File not found".
    """
    tflite = open(artifact("edsr", "none"), "rb").read()
    keras_bytes = open(tiny_model("edsr")[1], "rb").read()
    cuts = {
        ".tflite": sorted({0, 4, 8, 100, len(tflite) - 1}
                          | set(np.linspace(9, len(tflite) - 2, 150).astype(int))),
        ".keras": sorted({0, 1, 100, len(keras_bytes) // 2, len(keras_bytes) - 1}),
    }
    contents = {".tflite": tflite, ".keras": keras_bytes}
    tried = 0
    for ext, lengths in cuts.items():
        path = tmp_path / f"cut{ext}"
        for length in lengths:
            path.write_bytes(contents[ext][:length])
            with pytest.raises(InputError) as caught:
                ModelRunner.load(path)
            message = str(caught.value)
            assert message.startswith(str(path)) and "\n" not in message, message
            tried += 1
    assert tried == len(cuts[".tflite"]) + len(cuts[".keras"]) > 150
    path = tmp_path / "cut.tflite"
    path.write_bytes(tflite[:-1])
    with pytest.raises(InputError, match=r"not a complete TFLite model \(\d+ bytes; the "
                       "file is truncated or damaged\)"):
        LiteRTRunner(path)
    path = tmp_path / "notes.keras"
    path.write_text("not a model")
    with pytest.raises(InputError, match="not a .keras model .*11 bytes of something else"):
        KerasRunner(path)


def test_all_three_runners_share_one_interface():
    model, keras_path = tiny_model("edsr")
    runners = [
        ModelRunner.load(keras_path),
        ModelRunner.load(artifact("edsr", "savedmodel")),
        ModelRunner.load(artifact("edsr", "none")),
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
    runner = ModelRunner.load(artifact("edsr", "none"))
    runner.check_scale(2)
    with pytest.raises(InputError, match="x2 model, but --scale 4"):
        runner.check_scale(4)
    with pytest.raises(InputError, match="RGB"):
        runner(np.zeros((1, 8, 8, 4), np.float32))


def test_probe_image_is_not_black():
    image = probe_image((5, 7))
    assert image.shape == (1, 5, 7, 3) and image.min() >= 0.2 and image.max() <= 0.8
