import json

import numpy as np
import pytest
from click.testing import CliRunner

from keras_enlca.cli.main import cli
from keras_enlca.data.io import write_image
from keras_enlca.evaluation import evaluate
from keras_enlca.models import EDSR


@pytest.fixture
def benchmark(tmp_path, rng):
    for name in ("Set5", "Set14"):
        for k, (h, w) in enumerate(((20, 24), (18, 16))):
            lr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            hr = np.repeat(np.repeat(lr, 2, 0), 2, 1)
            write_image(tmp_path / "benchmark" / name / "HR" / f"im{k}.png", hr)
            write_image(
                tmp_path / "benchmark" / name / "LR_bicubic" / "X2" / f"im{k}x2.png", lr
            )
    return tmp_path / "benchmark"


@pytest.fixture
def model_file(tmp_path):
    model = EDSR(scale=2, num_blocks=1, filters=8, rgb_range=1.0)
    path = tmp_path / "tiny_x2.keras"
    model.save(path)
    return model, path


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_eval_keras_file_table_and_json(benchmark, model_file, tmp_path):
    model, path = model_file
    result = run(
        "eval",
        path,
        benchmark / "Set5",
        benchmark / "Set14",
        "--scale",
        2,
        "--json",
        tmp_path / "r.json",
        "--per-image",
        "--save-images",
        tmp_path / "sr",
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()  # the progress bar goes to stderr
    assert lines[0] == "tiny_x2.keras x2: Y, shave 2"
    assert any(line.startswith("Set14") for line in lines)
    assert any(line.strip().startswith("im1") for line in lines)
    data = json.loads((tmp_path / "r.json").read_text())
    assert [d["name"] for d in data["datasets"]] == ["Set5", "Set14"]
    expected = evaluate(model, str(benchmark / "Set5"))["Set5"]
    assert data["datasets"][0]["psnr"] == pytest.approx(expected["psnr"], abs=1e-6)
    assert data["datasets"][0]["bicubic_psnr"] == pytest.approx(
        expected["bicubic_psnr"]
    )
    assert f"{expected['psnr']:.2f} / {expected['ssim']:.4f}" in lines[3]
    assert (tmp_path / "sr" / "Set14" / "im0_x2_SR.png").is_file()


def test_eval_options_and_benchmark_root(benchmark, model_file):
    _, path = model_file
    result = run("eval", path, benchmark, "--chop", "--self-ensemble", "--no-bicubic")
    assert result.exit_code == 0, result.output
    assert "chop (enlca); x8 self-ensemble; Y, shave 2" in result.output
    assert "Bicubic" not in result.output
    assert "Set5" in result.output and "Set14" in result.output
    result = run(
        "eval", path, benchmark / "Set5", "--tile", 16, "--overlap", 4, "--rgb"
    )
    assert result.exit_code == 0, result.output
    assert "tile 16, overlap 4; RGB" in result.output


def test_eval_preset_name(benchmark):
    result = run("eval", "a2n_small_x2", benchmark / "Set5", "--chop")
    assert result.exit_code == 0, result.output
    assert "a2n_small_x2 (untrained) x2: chop (a2n)" in result.output


ERROR_CASES = [
    (["missing.keras", "{Set5}"], "Model file not found: missing.keras"),
    (["no_such_preset", "{Set5}"], "neither a model file nor a preset name"),
    (["{model}", "{root}/nope"], "Dataset folder not found"),
    (["{model}", "{root}/empty"], "No images found"),
    (["{model}", "{Set5}", "--scale", "3"], "is a x2 model, but --scale 3"),
    (["{model}", "{Set5}", "--chop", "--tile", "32"], "either --chop or --tile"),
    (["{model}", "{Set5}", "--tile", "16", "--overlap", "8"], "smaller than half"),
    (
        ["{model}", "{mismatch}"],
        "ax2.png: the LR image is 10x8, but its HR ",
    ),
]


def test_eval_errors_are_one_line(benchmark, model_file, tmp_path, rng):
    (tmp_path / "empty").mkdir()
    write_image(
        tmp_path / "mismatch" / "HR" / "a.png",
        rng.integers(0, 256, (20, 20, 3), dtype=np.uint8),
    )
    write_image(
        tmp_path / "mismatch" / "LR_bicubic" / "X2" / "ax2.png",
        rng.integers(0, 256, (8, 10, 3), dtype=np.uint8),
    )
    values = {
        "model": model_file[1],
        "Set5": benchmark / "Set5",
        "root": tmp_path,
        "mismatch": tmp_path / "mismatch",
    }
    for args, message in ERROR_CASES:
        result = CliRunner().invoke(cli, ["eval"] + [a.format(**values) for a in args])
        assert result.exit_code == 1, (args, result.output)
        assert result.output.count("Error:") == 1 and message in result.output, (
            result.output
        )
        assert "Traceback" not in result.output


def test_eval_help_has_examples():
    result = run("eval", "--help")
    assert result.exit_code == 0
    assert (
        "Examples:" in result.output
        and "enlca eval enlcn_x4.keras benchmark/Set5" in result.output
    )


def test_eval_saves_comparison_crops_and_never_overwrites(
    benchmark, model_file, tmp_path
):
    from PIL import Image

    _, path = model_file
    out = tmp_path / "crops"
    args = (
        "eval",
        path,
        benchmark / "Set5",
        "--save-comparisons",
        out,
        "--tile",
        16,
        "--quiet",
    )
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # --quiet: no progress bar
    assert f"Comparisons in {out}" in result.stdout
    names = sorted(p.name for p in (out / "Set5").iterdir())
    assert names == ["im0_x2_comparison.png", "im1_x2_comparison.png"]
    with Image.open(out / "Set5" / "im0_x2_comparison.png") as figure:
        # HR 40x48: a 32 px auto crop enlarged x8, four panels.
        assert figure.size == (4 * 256 + 5 * 8, 256 + 22 + 16)
    (out / "Set5" / "im1_x2_comparison.png").write_bytes(b"mine")
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 1 and "already exists" in result.output
    assert (out / "Set5" / "im1_x2_comparison.png").read_bytes() == b"mine"
    result = run(*args, "--crop", "4,4,16,8", "--overwrite")
    assert result.exit_code == 0, result.output
    with Image.open(out / "Set5" / "im1_x2_comparison.png") as figure:
        assert figure.size == (4 * 256 + 5 * 8, 128 + 22 + 16)  # 16x8 crop, x16
    bad = CliRunner().invoke(
        cli, ["eval", str(path), str(benchmark / "Set5"), "--crop", "1,2,3"]
    )
    assert bad.exit_code == 1 and bad.output.count("Error:") == 1
    assert "--crop: expected X,Y,W,H" in bad.output
