import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from keras_enlca.cli.main import cli
from keras_enlca.data import bicubic_downscale
from keras_enlca.data import bicubic_upscale
from keras_enlca.data import read_image
from keras_enlca.data import sample_images_dir
from keras_enlca.evaluation import psnr
from keras_enlca.evaluation import ssim


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    result = CliRunner().invoke(
        cli, ["demo", "--quick", "--out", str(out)], catch_exceptions=False
    )
    return out, result


def test_help_has_examples():
    result = CliRunner().invoke(cli, ["demo", "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output and "enlca demo --quick" in result.output


def test_quick_demo_writes_and_reports_everything(quick_demo):
    out, result = quick_demo
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    files = results["files"]
    for key in ("model", "tflite", "lr", "upscaled", "bicubic", "hr"):
        assert os.path.isfile(files[key]), key
    assert os.path.isfile(os.path.join(files["run"], "history.json"))
    assert os.path.isfile(files["tflite"] + ".json")  # export metadata
    assert results["steps"] == results["planned_steps"] == 4
    assert sorted(os.listdir(out / "data" / "train")) == [
        "chelsea.png",
        "coffee.png",
        "hubble.png",
        "rocket.png",
    ]
    assert os.listdir(out / "data" / "test") == ["astronaut.png"]

    # The numbers are the MATLAB-convention scores of the written images.
    hr_full = read_image(os.path.join(sample_images_dir(), "astronaut.png"))
    lr, hr = bicubic_downscale(hr_full, 2)
    np.testing.assert_array_equal(read_image(files["lr"]), lr)
    bicubic = read_image(files["bicubic"])
    np.testing.assert_array_equal(bicubic, bicubic_upscale(lr, 2))
    assert results["bicubic"]["psnr"] == pytest.approx(psnr(bicubic, hr, 2), abs=1e-9)
    assert results["bicubic"]["psnr"] == pytest.approx(29.23, abs=0.01)
    assert results["bicubic"]["ssim"] == pytest.approx(ssim(bicubic, hr, 2), abs=1e-9)
    upscaled = read_image(files["upscaled"])
    assert upscaled.shape == hr.shape == (252, 252, 3)
    assert results["tflite"]["psnr"] == pytest.approx(psnr(upscaled, hr, 2), abs=1e-6)
    # float16 TFLite vs the Keras model: nearly identical outputs.
    assert results["tflite"]["psnr_y_vs_keras"] > 50
    assert abs(results["tflite"]["psnr"] - results["keras"]["psnr"]) < 0.05

    lines = result.output.splitlines()
    assert lines[0].startswith(
        "[1/4] Training enlcn_small_x2 (quick, tiny) on 4 bundled photos (4 steps)"
    )
    assert (
        f"  {'bicubic':<34} {results['bicubic']['psnr']:>8.2f} "
        f"{results['bicubic']['ssim']:>8.4f}" in lines
    )
    assert any(line.startswith("  enlcn_small_x2 (TFLite float16)") for line in lines)
    assert f"  numbers   {out / 'results.json'}" in lines


def test_demo_again_as_a_subprocess_reuses_the_finished_run(quick_demo):
    out, _ = quick_demo
    before = os.path.getmtime(out / "run" / "model.keras")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_enlca.cli.main",
            "demo",
            "--quick",
            "--out",
            str(out),
            "--quantize",
            "dynamic",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "is complete: 4 of 4 steps done" in completed.stdout
    assert os.path.getmtime(out / "run" / "model.keras") == before
    results = json.loads((out / "results.json").read_text())
    assert results["tflite"]["quantize"] == "dynamic"
    assert results["files"]["tflite"].endswith("enlcn_small_x2_dynamic.tflite")
    assert "Traceback" not in completed.stderr


def test_another_holdout_in_the_same_folder_is_refused(quick_demo):
    out, _ = quick_demo
    result = CliRunner().invoke(
        cli, ["demo", "--quick", "--out", str(out), "--holdout", "coffee"]
    )
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: --out {out}: holds a demo run with --holdout astronaut; "
        "use another --out for another held-out photo"
    )


def test_unknown_holdout_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(
        cli, ["demo", "--quick", "--out", str(tmp_path), "--holdout", "lena"]
    )
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: --holdout lena: not a bundled photo (one of astronaut, chelsea, "
        "coffee, hubble, rocket)"
    )
