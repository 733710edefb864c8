import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from keras_enlca.cli.main import cli
from keras_enlca.data.io import write_image
from keras_enlca.evaluation import psnr
from keras_enlca.evaluation import ssim


@pytest.fixture
def folders(tmp_path, rng):
    pairs = {}
    for name in ("baby", "head"):
        hr = rng.integers(0, 256, (32, 36, 3), dtype=np.uint8)
        sr = np.clip(hr.astype(int) + rng.integers(-6, 7, hr.shape), 0, 255).astype(
            np.uint8
        )
        write_image(tmp_path / "HR" / f"{name}_HR_x4.png", hr)
        write_image(tmp_path / "ENLCN" / f"{name}_ENLCN_x4.png", sr)
        pairs[name] = (sr, hr)
    return tmp_path, pairs


def test_score_table_and_json(folders):
    root, pairs = folders
    result = CliRunner().invoke(
        cli,
        [
            "score",
            str(root / "ENLCN"),
            str(root / "HR"),
            "--scale",
            "4",
            "--per-image",
            "--json",
            str(root / "s.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "ENLCN vs HR x4: Y, shave 4"
    data = json.loads((root / "s.json").read_text())
    values = [psnr(sr, hr, 4) for sr, hr in pairs.values()]
    assert data["datasets"][0]["psnr"] == pytest.approx(np.mean(values))
    assert data["datasets"][0]["ssim"] == pytest.approx(
        np.mean([ssim(s, h, 4) for s, h in pairs.values()])
    )
    assert f"{np.mean(values):.2f}" in result.output and "head_HR_x4" in result.output


ERROR_CASES = [
    (["{root}/missing", "{root}/HR", "--scale", "4"], "Folder not found"),
    (["{root}/empty", "{root}/HR", "--scale", "4"], "No images in"),
    (["{root}/ENLCN", "{root}/HR", "--scale", "2"], "named for another scale than x2"),
    (["{root}/small", "{root}/HR", "--scale", "4"], "SR/HR size mismatch"),
]


def test_score_errors_are_one_line(folders, rng):
    root, _ = folders
    (root / "empty").mkdir()
    for name in ("baby", "head"):
        write_image(
            root / "small" / f"{name}.png",
            rng.integers(0, 256, (16, 18, 3), dtype=np.uint8),
        )
    for args, message in ERROR_CASES:
        result = CliRunner().invoke(
            cli, ["score"] + [a.format(root=root) for a in args]
        )
        assert result.exit_code == 1, (args, result.output)
        assert result.output.count("Error:") == 1 and message in result.output, (
            result.output
        )


def test_score_help_has_examples():
    result = CliRunner().invoke(cli, ["score", "--help"])
    assert (
        result.exit_code == 0
        and "enlca score results/Set5/x4 benchmark/Set5/HR --scale 4" in result.output
    )


def test_score_as_a_subprocess(folders):
    root, pairs = folders
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    command = [
        sys.executable,
        "-m",
        "keras_enlca.cli.main",
        "score",
        str(root / "ENLCN"),
        str(root / "HR"),
        "--scale",
        "4",
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{np.mean([psnr(s, h, 4) for s, h in pairs.values()]):.2f}" in done.stdout
