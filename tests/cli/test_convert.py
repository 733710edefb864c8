import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from keras_enlca.cli.main import cli
from keras_enlca.convert.layout import reference_layout
from keras_enlca.models import count_weights
from tests.convert import torch_reference
from tests.convert.common import random_state_dict
from tests.convert.common import to_nchw64
from tests.convert.common import to_nhwc
from tests.utils.faults import fill
from tests.utils.faults import listing
from tests.utils.faults import read_only_folder
from tests.utils.faults import run_cli_limited
from tests.utils.faults import tmpfs


@pytest.fixture
def a2n_checkpoint(tmp_path, rng):
    """A small A2N x3 checkpoint in the legacy format of the shipped aan_x3.pt."""
    layout = reference_layout("a2n", 3, num_blocks=2, features=12, upsample_features=8)
    state_dict = random_state_dict(layout, rng)
    path = tmp_path / "aan_x3.pt"
    torch.save(state_dict, path, _use_new_zipfile_serialization=False)
    return path, state_dict


def run(*args):
    return CliRunner().invoke(cli, ["convert", *map(str, args)])


def test_convert_writes_a_keras_model(a2n_checkpoint, tmp_path, rng):
    path, state_dict = a2n_checkpoint
    output = tmp_path / "models" / "a2n_x3.keras"
    result = run(path, "--arch", "a2n", "--scale", "3", "-o", output)
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"{path} -> {output}: A2N x3 (2 blocks, 12 features, non-attention 3x3, "
        "trained in [0, 255]), 14,731 weights. Input and output are RGB in [0, 1].\n"
    )
    assert os.listdir(output.parent) == ["a2n_x3.keras"]
    model = keras.saving.load_model(output, safe_mode=True)
    images = rng.random((1, 9, 11, 3)).astype("float32")
    sd = {k: v.double() for k, v in state_dict.items()}
    with torch.no_grad():
        expected = to_nhwc(
            torch_reference.a2n_forward(sd, to_nchw64(images) * 255.0, 3) / 255.0
        )
    np.testing.assert_allclose(
        model.predict(images, verbose=0), expected, atol=3e-5, rtol=0
    )


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["--arch", "a2n"],
            "{path}: A2N x2 and x3 checkpoints have the same layout; pass --scale 2 or "
            "--scale 3.",
        ),
        (
            ["--arch", "a2n", "--scale", "4"],
            "--scale 4 does not match {path}: it has one upsampling stage",
        ),
        (
            ["--arch", "a2n-m", "--scale", "3"],
            "--arch a2n-m does not match {path}: its keys are those of A2N; pass "
            "--arch a2n.",
        ),
        (
            ["--arch", "enlcn"],
            "--arch enlcn does not match {path}: its keys are those of A2N; pass "
            "--arch a2n.",
        ),
        (
            ["--arch", "a2n", "--scale", "3", "--res-scale", "0.1"],
            "--res-scale applies to EDSR, NLSN and ENLCN, not to A2N.",
        ),
    ],
)
def test_wrong_options_are_one_line_errors(a2n_checkpoint, tmp_path, args, message):
    path, _ = a2n_checkpoint
    output = tmp_path / "out.keras"
    result = run(path, *args, "-o", output)
    assert result.exit_code == 1
    assert result.output.startswith("Error: " + message.format(path=path))
    assert result.output.count("\n") == 1
    assert not output.exists()


def test_broken_and_missing_files(tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"\x00\x01 not a pickle")
    result = run(broken, "--arch", "edsr", "-o", tmp_path / "out.keras")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {broken}: not a PyTorch checkpoint")
    assert result.output.count("\n") == 1
    result = run(tmp_path / "nope.pt", "--arch", "edsr", "-o", tmp_path / "out.keras")
    assert result.output == f"Error: {tmp_path / 'nope.pt'}: no such checkpoint file.\n"
    assert not (tmp_path / "out.keras").exists()


def test_unknown_arch_is_a_usage_error(a2n_checkpoint, tmp_path):
    path, _ = a2n_checkpoint
    result = run(path, "--arch", "rcan", "-o", tmp_path / "out.keras")
    assert result.exit_code == 2
    assert (
        "Invalid value for '--arch': 'rcan' is not one of 'edsr', 'nlsn', 'enlcn', "
        "'a2n', 'a2n-m'" in result.output
    )


def test_without_torch_the_install_command_is_shown(
    a2n_checkpoint, tmp_path, monkeypatch
):
    path, _ = a2n_checkpoint
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` fails.
    result = run(path, "--arch", "a2n", "--scale", "3", "-o", tmp_path / "out.keras")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "pip install keras-enlca[torch]" in result.output


def test_enlca_convert_in_a_subprocess(a2n_checkpoint, tmp_path):
    path, _ = a2n_checkpoint
    output = tmp_path / "a2n.keras"
    command = [sys.executable, "-m", "keras_enlca.cli.main", "convert", str(path)]
    command += ["--arch", "a2n", "--scale", "3", "-o", str(output)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("ENLCA_DEBUG", None)
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{path} -> {output}: A2N x3")
    assert output.exists()


def test_an_existing_output_is_kept_unless_overwrite(a2n_checkpoint, tmp_path):
    path, _ = a2n_checkpoint
    output = tmp_path / "models" / "a2n_x3.keras"
    output.parent.mkdir()
    output.write_bytes(b"the user's model")
    (output.parent / "notes.txt").write_text("precious\n")
    result = run(path, "--arch", "a2n", "--scale", "3", "-o", output)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: -o {output}: already exists; pass --overwrite to replace it.\n"
    )
    assert output.read_bytes() == b"the user's model"
    result = run(path, "--arch", "a2n", "--scale", "3", "-o", output, "--overwrite")
    assert result.exit_code == 0, result.output
    assert listing(output.parent) == ["a2n_x3.keras", "notes.txt"]
    assert count_weights(keras.saving.load_model(output)) == 14_731


def test_a_disk_that_fills_up(a2n_checkpoint, tmp_path):
    """14,731 weights: at least 59 kB; the .keras file is larger."""
    path, _ = a2n_checkpoint
    with tmpfs(tmp_path / "disk", 256) as disk:
        (disk / "notes.txt").write_text("precious\n")
        output = disk / "models" / "a2n.keras"
        fill(disk, leave_bytes=40 * 1024)  # below the bound: refused before building
        result = run(path, "--arch", "a2n", "--scale", "3", "-o", output)
        assert result.output.startswith(
            f"Error: {output}: cannot write in {disk} (No space left on device: "
        ) and result.output.endswith("needs at least 0.1 MB).\n"), result.output
        os.remove(disk / "filler.bin")
        fill(disk, leave_bytes=64 * 1024)  # above the bound, below the file
        result = run(path, "--arch", "a2n", "--scale", "3", "-o", output)
        assert result.exit_code == 1
        assert (
            result.output
            == f"Error: {output}: cannot write (No space left on device).\n"
        )
        assert listing(disk) == ["filler.bin", "notes.txt"]


def test_a_read_only_folder(a2n_checkpoint, tmp_path):
    path, _ = a2n_checkpoint
    with read_only_folder(tmp_path / "ro") as ro:
        result = run(path, "--arch", "a2n", "--scale", "3", "-o", ro / "a2n.keras")
        assert result.exit_code == 1 and result.output.count("\n") == 1
        assert result.output.startswith(
            f"Error: -o {ro / 'a2n.keras'}: cannot write in {ro} ("
        )
        assert listing(ro) == ["notes.txt"]


def test_a_file_size_limit_in_a_real_process(a2n_checkpoint, tmp_path):
    path, _ = a2n_checkpoint
    output = tmp_path / "out" / "a2n.keras"
    done = run_cli_limited(
        ["convert", path, "--arch", "a2n", "--scale", "3", "-o", output],
        limit_bytes=64 * 1024,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        f"Error: {output}: cannot write (File too large); the file-size limit of this "
        "shell (ulimit -f) is below the file's size; raise it (ulimit -f unlimited)."
    ]
    assert listing(tmp_path) == ["aan_x3.pt"]
