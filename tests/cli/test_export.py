import json
import os
import subprocess
import sys

from click.testing import CliRunner

from keras_enlca.cli.main import cli
from keras_enlca.export import LiteRTRunner
from keras_enlca.export import SavedModelRunner
from keras_enlca.export.metadata import metadata_path
from tests.export.artifacts import tiny_model


def run(*args):
    return CliRunner().invoke(cli, ["export", *map(str, args)])


def test_help_has_an_example():
    result = run("--help")
    assert result.exit_code == 0
    assert "Examples:" in result.output and "enlca export enlcn_x2.keras" in result.output
    for option in ("--format", "--quantize", "--calibration", "--tile", "--out", "--verify"):
        assert option in result.output


def test_export_tflite_with_a_fixed_tile(tmp_path):
    _, keras_path = tiny_model("edsr")
    out = tmp_path / "models" / "edsr.tflite"
    result = run(keras_path, "--quantize", "float16", "--tile", 24, 32, "-o", out)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        f"Wrote {out} (tflite, float16, EDSR x2, input 24x32, "
        f"{os.path.getsize(out) / 1e6:.2f} MB)"
    )
    runner = LiteRTRunner(out)
    assert runner.input_size == (24, 32) and runner.scale == 2
    with open(metadata_path(out)) as f:
        metadata = json.load(f)
    assert metadata["tile"] == [24, 32] and metadata["quantization"] == "float16"
    assert sorted(os.listdir(out.parent)) == ["edsr.tflite", "edsr.tflite.json"]


def test_export_savedmodel(tmp_path):
    _, keras_path = tiny_model("edsr")
    out = tmp_path / "edsr_savedmodel"
    result = run(keras_path, "--format", "savedmodel", "--out", out)
    assert result.exit_code == 0, result.output
    assert "(savedmodel, none, EDSR x2, input any size" in result.output
    assert SavedModelRunner(out).scale == 2


def test_errors_are_one_line(tmp_path):
    _, keras_path = tiny_model("edsr")
    cases = [
        ((tmp_path / "missing.keras", "-o", tmp_path / "m.tflite"), "no such model file"),
        ((keras_path, "--scale", 4, "-o", tmp_path / "m.tflite"), "is a x2 model, but --scale 4"),
        ((keras_path, "--format", "savedmodel", "--quantize", "int8", "-o", tmp_path / "sm"),
         "--quantize applies to --format tflite only"),
        ((keras_path, "--float-ops", "EXP", "-o", tmp_path / "m.tflite"),
         "--float-ops is only used with --quantize int8"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code != 0
        lines = result.output.strip().splitlines()
        assert message in lines[-1], result.output
        assert "Traceback" not in result.output
    assert os.listdir(tmp_path) == []
    # Exporting a .tflite is a wrong format, reported as such.
    tflite = tmp_path / "m.tflite"
    assert run(keras_path, "-o", tflite).exit_code == 0
    result = run(tflite, "-o", tmp_path / "again.tflite")
    assert result.exit_code == 1
    assert result.output == f"Error: {tflite}: is a tflite model; export needs the .keras model.\n"


def test_export_as_a_subprocess(tmp_path):
    _, keras_path = tiny_model("edsr")
    out = tmp_path / "edsr_int8.tflite"
    result = subprocess.run(
        [sys.executable, "-m", "keras_enlca.cli.main", "export", keras_path,
         "--quantize", "int8", "--calibration-crops", "2", "-o", out],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Wrote {out} (tflite, int8, EDSR x2")
    assert LiteRTRunner(out).metadata["calibration"]["crops"] == 2
