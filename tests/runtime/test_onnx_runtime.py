"""The ONNX-only install: `pip install "keras-enlca[onnx]"` (no TensorFlow).

`enlca upscale/info` on a `.onnx` need only ONNX Runtime, NumPy, Pillow and
click. Every command here runs through `without_tensorflow.py` (importing
TensorFlow, Keras, TensorBoard or PyYAML fails), so the main test run
checks this path; `.ci/run` runs these tests again in a fresh virtual
environment with `.[onnx]` installed and no TensorFlow at all
(`ENLCA_ONNX_ONLY=1`). Nothing here may import TensorFlow or `onnx`.
"""

import importlib.util
import json
import os

import numpy as np
import pytest
from PIL import Image

from tests.runtime.test_runtime import enlca
from tests.runtime.test_runtime import photo
from tests.runtime.test_runtime import write_png

# In the LiteRT-only environment of .ci/run (no extra), ONNX Runtime is
# truly absent: only the test of its one-line message runs there.
needs_onnxruntime = pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None,
    reason="onnxruntime is not installed (the LiteRT-only environment)",
)
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "data", "a2n_tiny_x2.onnx")
FOREIGN = os.path.join(HERE, "data", "foreign_add.onnx")


def onnx_runtime_upscale(image):
    """The fixture run directly in ONNX Runtime, without our code."""
    import onnxruntime as ort

    session = ort.InferenceSession(FIXTURE, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: image[None]})[0][0]


@needs_onnxruntime
def test_upscale_onnx_matches_onnx_runtime(tmp_path):
    image = photo(24, 36)
    source = write_png(tmp_path / "photo.png", image)
    done = enlca("upscale", FIXTURE, source, "-o", tmp_path / "out", "--threads", 2)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    result = np.asarray(Image.open(tmp_path / "out" / "photo.png"))
    assert result.shape == (48, 72, 3)
    np.testing.assert_array_equal(result, onnx_runtime_upscale(image))
    assert result.std() > 5


@needs_onnxruntime
def test_upscale_onnx_tiles_a_large_non_square_image(tmp_path):
    # 200 x 260 LR: tiles of 192 with 32-pixel overlaps, as the tiler does
    # around ONNX Runtime called directly.
    from keras_enlca.inference.tiling import upscale_tiled

    image = photo(200, 260, seed=3)
    source = write_png(tmp_path / "big.png", image)
    done = enlca("upscale", FIXTURE, source, "-o", tmp_path / "out", "--quiet")
    assert done.returncode == 0, done.stderr
    result = np.asarray(Image.open(tmp_path / "out" / "big.png")).astype(int)
    assert result.shape == (400, 520, 3)

    def plain(batch):
        pixels = np.floor(np.clip(batch, 0, 1) * 255 + 0.5).astype(np.uint8)
        return onnx_runtime_upscale(pixels[0])[None].astype(np.float32) / 255

    expected = upscale_tiled(plain, image / 255.0, 2, dtype="uint8").astype(int)
    assert np.abs(result - expected).max() <= 1
    assert np.mean(result == expected) > 0.99


@needs_onnxruntime
def test_info_onnx_reads_the_embedded_metadata():
    done = enlca("info", FIXTURE, "--json")
    assert done.returncode == 0, done.stderr
    details = json.loads(done.stdout)
    assert details["format"] == "onnx"
    assert details["scale"] == 2 and details["network"] == "A2N"
    assert details["quantization"] == "none" and details["target"] == "cpu"
    assert details["input"]["shape"] == [None, None, None, 3]
    assert details["execution_providers"] == ["CPUExecutionProvider"]
    assert details["size_bytes"] == os.path.getsize(FIXTURE)


@needs_onnxruntime
def test_a_truncated_or_foreign_onnx_is_one_line(tmp_path):
    content = open(FIXTURE, "rb").read()
    source = write_png(tmp_path / "photo.png", photo(16, 16))
    cases = {
        "cut.onnx": content[: len(content) // 2],
        "short.onnx": content[:40],
        "text.onnx": b"not an onnx model at all",
        "foreign.onnx": open(FOREIGN, "rb").read(),
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        for args in (("info", path), ("upscale", path, source, "-o", tmp_path / "o")):
            done = enlca(*args)
            assert done.returncode == 1, (name, done.stderr)
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1, done.stderr
            assert lines[0].startswith(f"Error: {path}: "), lines[0]
            if name == "foreign.onnx":
                assert "not an `enlca export` model" in lines[0]
            else:
                assert "cannot load it as an ONNX model" in lines[0]
    assert not (tmp_path / "o").exists() or not os.listdir(tmp_path / "o")


def test_without_onnxruntime_a_onnx_names_the_extra(tmp_path):
    source = write_png(tmp_path / "photo.png", photo(16, 16))
    for args in (("info", FIXTURE), ("upscale", FIXTURE, source, "-o", tmp_path / "o")):
        done = enlca(*args, absent="onnxruntime")
        assert done.returncode == 1
        assert done.stderr == (
            f"Error: {FIXTURE}: running ONNX models needs onnxruntime, which this "
            "install lacks; install it with pip install 'keras-enlca[onnx]'.\n"
        )


@pytest.mark.skipif(
    not os.environ.get("ENLCA_ONNX_ONLY"),
    reason="only in the ONNX-only environment of .ci/run",
)
def test_onnx_environment_has_no_tensorflow():
    for name in ("tensorflow", "keras", "tensorboard", "tf2onnx"):
        assert importlib.util.find_spec(name) is None, name
    assert importlib.util.find_spec("onnxruntime") is not None
    with pytest.raises(ModuleNotFoundError):
        import tensorflow  # noqa: F401
