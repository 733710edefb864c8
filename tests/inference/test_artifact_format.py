"""The format table: a registered toy format reaches export, metadata, runners."""

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from keras_enlca.cli.main import cli
from keras_enlca.errors import InputError
from keras_enlca.inference.artifact_format import ArtifactFormat
from keras_enlca.inference.artifact_format import export_format_names
from keras_enlca.inference.artifact_format import get_format
from keras_enlca.inference.artifact_format import register_format
from keras_enlca.inference.artifact_format import unregister_format
from keras_enlca.inference.loader import model_format
from keras_enlca.inference.loader import open_runner
from keras_enlca.inference.metadata import metadata_path
from keras_enlca.inference.metadata import read_artifact_metadata
from keras_enlca.inference.model_info import model_info
from tests.export.artifacts import tiny_model
from tests.inference.toy_format import ToyRunner


@pytest.fixture
def toy():
    register_format(
        ArtifactFormat(
            name="toy",
            display_name="Toy",
            runner="tests.inference.toy_format:ToyRunner",
            exporter="tests.inference.toy_format:export_toy",
            suffix=".toy",
            embedded_metadata="tests.inference.toy_format:toy_metadata",
        )
    )
    yield
    unregister_format("toy")


def test_the_package_registers_four_formats_three_exportable():
    assert export_format_names() == ("savedmodel", "tflite", "onnx")
    assert get_format("onnx").quantizations == ("none", "float16")
    with pytest.raises(InputError, match="--format must be one of savedmodel, tf"):
        get_format("coreml")


def test_a_registered_toy_format_is_exported_read_and_run(toy, tmp_path):
    _, keras_path = tiny_model("edsr")
    help_text = CliRunner().invoke(cli, ["export", "--help"]).output
    assert "[savedmodel|tflite|onnx|toy]" in help_text.replace("\n", "")
    out = tmp_path / "edsr.toy"
    result = CliRunner().invoke(
        cli, ["export", str(keras_path), "--format", "toy", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Wrote {out} (toy, none, EDSR x2, input any")
    with open(metadata_path(out)) as f:
        beside = json.load(f)
    assert beside["format"] == "toy" and beside["scale"] == 2
    assert beside["toy_note"] == "written by the toy exporter"
    os.remove(metadata_path(out))  # the copy inside, through the table's reader
    inside = read_artifact_metadata(out)
    assert inside["format"] == "toy" and inside["network"] == "EDSR"
    assert model_format(out) == "toy"
    runner = open_runner(out)
    assert isinstance(runner, ToyRunner) and runner.scale == 2
    image = np.random.default_rng(0).random((1, 5, 7, 3)).astype("float32")
    assert runner(image).shape == (1, 10, 14, 3)
    info = model_info(out)
    assert info["format"] == "toy" and info["network"] == "EDSR"
    wrong = CliRunner().invoke(
        cli, ["export", str(keras_path), "--format", "toy", "-o", str(tmp_path / "x")]
    )
    assert wrong.exit_code == 1
    assert "a Toy model path must end with .toy" in wrong.output


def test_an_unregistered_format_is_gone_everywhere(tmp_path):
    assert "toy" not in export_format_names()
    (tmp_path / "m.toy").write_text('{"scale": 2}')
    with pytest.raises(InputError, match="unknown model format"):
        model_format(tmp_path / "m.toy")
