"""The TensorFlow-free install: `pip install keras-enlca` without an extra.

`enlca upscale`, `info` and `score` on a `.tflite` need only LiteRT, NumPy,
Pillow and click. Every command here runs through `without_tensorflow.py`,
which makes importing TensorFlow, Keras, TensorBoard and PyYAML fail, so
the main test run checks this path too; `.ci/run` runs these tests again in
a fresh virtual environment where those packages are not installed at all
(`ENLCA_RUNTIME_ONLY=1`). Nothing here may import TensorFlow.
"""

import importlib.util
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "data", "a2n_tiny_x2.tflite")
RUNNER = os.path.join(HERE, "without_tensorflow.py")


def enlca(*args, absent=""):
    """`enlca ARGS` without TensorFlow, on the installed package.

    Run outside the repository so that `keras_enlca` is the installed one
    (in `.ci/run`, a non-editable `pip install .`). `absent`: more packages
    to make absent, comma-separated.
    """
    env = {
        k: v for k, v in os.environ.items() if k not in ("ENLCA_DEBUG", "PYTHONPATH")
    }
    env["ENLCA_TEST_ALSO_ABSENT"] = absent
    return subprocess.run(
        [sys.executable, RUNNER, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=os.path.dirname(FIXTURE),
    )


def write_png(path, array):
    Image.fromarray(array).save(path)
    return path


def photo(height, width, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 4, y * 5, (x + y) * 3], axis=-1) % 256
    return np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)


def litert_upscale(image):
    """The fixture run directly in the LiteRT interpreter, without our code."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=FIXTURE, num_threads=1)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, (1, *image.shape), strict=True)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, image[None])
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]


def test_upscale_tflite_matches_the_interpreter(tmp_path):
    image = photo(24, 36)
    source = write_png(tmp_path / "photo.png", image)
    done = enlca("upscale", FIXTURE, source, "-o", tmp_path / "out", "--threads", 1)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    result = np.asarray(Image.open(tmp_path / "out" / "photo.png"))
    assert result.shape == (48, 72, 3)
    np.testing.assert_array_equal(result, litert_upscale(image))
    assert result.std() > 5  # a real picture, not a constant


def test_info_tflite_reads_the_embedded_metadata(tmp_path):
    done = enlca("info", FIXTURE, "--json")
    assert done.returncode == 0, done.stderr
    details = json.loads(done.stdout)
    assert details["format"] == "tflite"
    assert details["scale"] == 2
    assert details["network"] == "A2N"
    assert details["quantization"] == "none"
    assert details["size_bytes"] == os.path.getsize(FIXTURE)


def test_score_matches_matlab_y_psnr(tmp_path):
    hr = photo(40, 52, seed=1)
    noise = np.random.default_rng(2).integers(-6, 7, hr.shape)
    sr = np.clip(hr.astype(int) + noise, 0, 255).astype(np.uint8)
    os.makedirs(tmp_path / "hr")
    os.makedirs(tmp_path / "sr")
    write_png(tmp_path / "hr" / "a.png", hr)
    write_png(tmp_path / "sr" / "a_x2_SR.png", sr)
    report = tmp_path / "scores.json"
    done = enlca(
        "score", tmp_path / "sr", tmp_path / "hr", "--scale", 2, "--json", report
    )
    assert done.returncode == 0, done.stderr

    def y(rgb):  # MATLAB rgb2ycbcr luminance on 8-bit values, shave 2
        rgb = rgb.astype(np.float64)
        return (16 + rgb @ np.array([65.481, 128.553, 24.966]) / 255)[2:-2, 2:-2]

    expected = 10 * np.log10(255**2 / np.mean((y(sr) - y(hr)) ** 2))
    measured = json.loads(report.read_text())["datasets"][0]["psnr"]
    assert measured == pytest.approx(expected, abs=1e-6)


def test_tensorflow_commands_name_the_extra(tmp_path):
    model = tmp_path / "net.keras"
    with zipfile.ZipFile(model, "w") as archive:
        archive.writestr("config.json", "{}")
    source = write_png(tmp_path / "photo.png", photo(16, 16))
    for args in (
        ("upscale", model, source, "-o", tmp_path / "out"),
        ("export", model, "-o", tmp_path / "net.tflite"),
        ("train", "--help"),
    ):
        done = enlca(*args)
        assert done.returncode == 1
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert f"enlca {args[0]} needs TensorFlow" in lines[0]
        assert "pip install 'keras-enlca[cpu]'" in lines[0]
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


@pytest.mark.skipif(
    not os.environ.get("ENLCA_RUNTIME_ONLY"),
    reason="only in the runtime-only environment of .ci/run",
)
def test_runtime_environment_has_no_tensorflow():
    for name in ("tensorflow", "keras", "tensorboard", "yaml"):
        assert importlib.util.find_spec(name) is None, name
    with pytest.raises(ModuleNotFoundError):
        import tensorflow  # noqa: F401


def test_web_serves_its_page_and_the_model_without_tensorflow():
    """`enlca web` in the LiteRT-only install: its page files are package data."""
    import signal
    import urllib.request

    env = {
        k: v for k, v in os.environ.items() if k not in ("ENLCA_DEBUG", "PYTHONPATH")
    }
    server = subprocess.Popen(
        [sys.executable, RUNNER, "web", FIXTURE, "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=os.path.dirname(FIXTURE),
    )
    try:
        line = ""
        while "open http://" not in line:
            line = server.stderr.readline()
            assert line, "enlca web exited before serving"
        url = line.split("open ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
            assert b'src="/static/app.js"' in response.read()
        with urllib.request.urlopen(url + "static/tiler.js", timeout=10) as response:
            assert b"export async function upscaleImage" in response.read()
        with urllib.request.urlopen(url + "config.json", timeout=10) as response:
            models = json.load(response)["models"]
        assert [m["name"] for m in models] == ["a2n_tiny_x2.tflite"]
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=20) == 130
        server.stderr.close()
