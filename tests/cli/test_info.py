import json
import subprocess
import sys

from click.testing import CliRunner

from keras_enlca.cli.main import cli
from keras_enlca.models import count_parameters
from tests.export.artifacts import artifact
from tests.export.artifacts import tiny_model


def run(*args):
    return CliRunner().invoke(cli, ["info", *map(str, args)])


def test_help_has_an_example():
    result = run("--help")
    assert result.exit_code == 0
    assert "Examples:" in result.output and "enlca info enlcn_x2.keras" in result.output


def test_info_of_each_format():
    model, keras_path = tiny_model("nlsn")
    parameters = f"{count_parameters(model):,}"
    result = run(keras_path)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1:5] == [
        "format:        keras",
        "network:       NLSN",
        "scale:         x2",
        f"parameters:    {parameters}",
    ]
    assert lines[5] == "input:         float32 NHWC RGB in [0.0, 1.0], shape ?x?x?x3"

    result = run(artifact("nlsn", "dynamic"))
    assert result.exit_code == 0, result.output
    assert "quantization:  dynamic" in result.output
    assert f"parameters:    {parameters}" in result.output
    assert f"source model:  {keras_path}" in result.output

    result = run(artifact("nlsn", "savedmodel"), "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert (info["format"], info["network"], info["scale"]) == ("savedmodel", "NLSN", 2)
    assert info["input"]["shape"] == [None, None, None, 3]


def test_wrong_format_is_one_line(tmp_path):
    notes = tmp_path / "model.txt"
    notes.write_text("not a model")
    result = run(notes)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {notes}: unknown model format; expected a .keras file, a SavedModel "
        "folder, a .tflite file or a .onnx file.\n"
    )


def test_info_as_a_subprocess():
    path = artifact("edsr", "none")
    result = subprocess.run(
        [sys.executable, "-m", "keras_enlca.cli.main", "info", path],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert (
        "network:       EDSR" in result.stdout and "scale:         x2" in result.stdout
    )
    result = subprocess.run(
        [sys.executable, "-m", "keras_enlca.cli.main", "info", path + ".missing"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {path}.missing: no such model file or folder."
    )
