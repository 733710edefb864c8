"""`enlca export --format onnx`, then `upscale`, `info` and `eval` on the .onnx."""

import json
import os
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from keras_enlca.cli.main import cli
from keras_enlca.data import read_image
from keras_enlca.data import sample_image_paths
from tests.export.artifacts import root
from tests.export.artifacts import tiny_model

_ONNX = {}


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def onnx_export(family="enlcn"):
    """The tiny model of `family` exported by `enlca export --format onnx`."""
    if family not in _ONNX:
        _, keras_path = tiny_model(family)
        out = os.path.join(root(), f"{family}_cli.onnx")
        result = run("export", keras_path, "--format", "onnx", "-o", out)
        assert result.exit_code == 0, result.output
        assert result.output.splitlines()[0].startswith(
            f"Wrote {out} (onnx, none, ENLCN x2, input any size, "
        )
        _ONNX[family] = out
    return _ONNX[family]


def test_upscale_onnx_equals_the_keras_tiler(tmp_path):
    _, keras_path = tiny_model("enlcn")
    model = onnx_export()
    photo = read_image(sample_image_paths()[2])[:90, :140]  # non-square, 2x2 tiles
    Image.fromarray(photo).save(tmp_path / "photo.png")
    outputs = {}
    for name, path in (("keras", keras_path), ("onnx", model)):
        result = run(
            "upscale",
            path,
            tmp_path / "photo.png",
            "-o",
            tmp_path / name,
            "--tile",
            64,
            "--overlap",
            8,
            "--quiet",
        )
        assert result.exit_code == 0, result.output
        outputs[name] = np.asarray(Image.open(tmp_path / name / "photo.png"))
    assert outputs["onnx"].shape == (180, 280, 3)
    difference = np.abs(outputs["onnx"].astype(int) - outputs["keras"])
    # The .onnx returns 8-bit tiles that the tiler blends and rounds again;
    # Keras's tiles are float: one grey level at most, on a few pixels.
    assert difference.max() <= 1
    assert np.mean(difference) < 0.2


def test_info_onnx_shows_the_export(tmp_path):
    result = run("info", onnx_export(), "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["format"] == "onnx" and info["network"] == "ENLCN"
    assert info["scale"] == 2 and info["quantization"] == "none"
    assert info["input"]["shape"] == [None, None, None, 3]
    text = run("info", onnx_export())
    assert "format:        onnx" in text.output
    assert "tile:          any size" in text.output


def test_eval_onnx_matches_the_keras_model(tmp_path):
    _, keras_path = tiny_model("enlcn")
    hr = tmp_path / "HR"
    hr.mkdir()
    for path in sample_image_paths()[:2]:
        image = read_image(path)[:96, :120]
        Image.fromarray(image).save(hr / os.path.basename(path))
    scores = {}
    for name, path in (("keras", keras_path), ("onnx", onnx_export())):
        report = tmp_path / f"{name}.json"
        result = run("eval", path, hr, "--scale", 2, "--json", report, "--quiet")
        assert result.exit_code == 0, result.output
        scores[name] = json.loads(report.read_text())["datasets"][0]["psnr"]
    assert scores["onnx"] == pytest.approx(scores["keras"], abs=0.02)
    shutil.rmtree(hr)
