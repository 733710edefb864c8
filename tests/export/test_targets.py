"""`--target`: each target's input shape and precision, recorded and usable."""

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from keras_enlca.cli.main import cli
from keras_enlca.errors import InputError
from keras_enlca.export.export_options import ExportOptions
from keras_enlca.export.targets import TARGETS
from keras_enlca.export.targets import get_target
from keras_enlca.inference import open_runner
from keras_enlca.inference.metadata import metadata_path
from keras_enlca.inference.model_info import model_info
from keras_enlca.inference.tiling import upscale_tiled
from keras_enlca.inference.upscale_files import tiling_for
from tests.export.artifacts import lr_image
from tests.export.artifacts import tiny_model


@pytest.mark.parametrize(
    "target, fmt, size, quantize",
    [
        ("cpu", "tflite", None, "none"),
        ("gpu", "tflite", (256, 256), "float16"),
        ("web", "tflite", (192, 192), "int8"),
        ("gpu", "onnx", (256, 256), "float16"),
        ("web", "onnx", (192, 192), "none"),
        ("web", "savedmodel", (192, 192), "none"),
    ],
)
def test_each_target_chooses_shape_and_precision(tmp_path, target, fmt, size, quantize):
    out = tmp_path / {"tflite": "m.tflite", "onnx": "m.onnx"}.get(fmt, "m")
    options = ExportOptions.create(out, format=fmt, target=target)
    assert (options.input_size, options.quantize) == (size, quantize)
    # --input-size and --quantize override the target.
    options = ExportOptions.create(
        out, format=fmt, target=target, input_size=(64, 48), quantize="none"
    )
    assert (options.input_size, options.quantize) == ((64, 48), "none")
    assert os.listdir(tmp_path) == []


def test_target_table_and_errors():
    assert tuple(TARGETS) == ("cpu", "gpu", "web")
    assert get_target("GPU").settings("tflite") == {
        "input_size": [256, 256],
        "quantization": "float16",
        "op_set": "TFLITE_BUILTINS",
    }
    assert get_target("web").settings("onnx")["op_set"] == "ai.onnx opset 17"
    with pytest.raises(InputError, match="--target must be one of cpu, gpu, web"):
        get_target("tpu")


def test_gpu_target_export_is_recorded_and_upscales(tmp_path):
    model, keras_path = tiny_model("edsr")
    out = tmp_path / "edsr_gpu.tflite"
    result = CliRunner().invoke(
        cli, ["export", str(keras_path), "--target", "gpu", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "(tflite, float16, EDSR x2, input 256x256, " in result.output
    with open(metadata_path(out)) as f:
        metadata = json.load(f)
    assert metadata["target"] == "gpu"
    assert metadata["input_size"] == [256, 256]
    assert metadata["input"]["shape"] == [1, 256, 256, 3]
    assert metadata["target_settings"]["quantization"] == "float16"
    info = model_info(out)
    assert info["target"] == "gpu" and info["tile"] == [256, 256]
    runner = open_runner(out)
    assert runner.input_size == (256, 256)
    # The tiler takes the fixed shape: a larger, non-square image in tiles.
    tile, overlap, fixed = tiling_for(runner)
    assert tile == (256, 256) and fixed
    image = lr_image(40, 30)
    big = np.tile(image[0], (7, 10, 1))  # 280 x 300: more than one tile
    sr = upscale_tiled(
        runner, big, 2, tile=tile, overlap=overlap, fixed_tile_shape=True
    )
    expected = np.asarray(model(big[None], training=False))[0]
    assert sr.shape == (560, 600, 3)
    assert np.abs(sr - expected).max() < 3 / 255
