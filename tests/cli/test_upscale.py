import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from keras_enlca.cli.main import cli
from keras_enlca.data import read_image
from keras_enlca.data import sample_image_paths
from keras_enlca.data import write_image
from keras_enlca.inference.loader import open_runner
from tests.export.artifacts import artifact
from tests.export.artifacts import tiny_model
from tests.utils.faults import fill
from tests.utils.faults import listing
from tests.utils.faults import read_only_folder
from tests.utils.faults import run_cli_limited
from tests.utils.faults import tmpfs


def run(*args):
    return CliRunner().invoke(cli, ["upscale", *map(str, args)])


def make_inputs(tmp_path):
    photo = read_image(sample_image_paths()[3])
    folder = tmp_path / "photos"
    write_image(folder / "a.png", photo[:40, :50])
    write_image(folder / "b.jpg", photo[40:70, 50:90])
    write_image(tmp_path / "c.bmp", photo[:20, :20])
    return folder, tmp_path / "c.bmp"


def test_help_has_an_example():
    result = run("--help")
    assert result.exit_code == 0
    assert (
        "Examples:" in result.output
        and "enlca upscale enlcn_x2.tflite" in result.output
    )


def test_upscale_folders_and_files_with_each_format(tmp_path):
    folder, single = make_inputs(tmp_path)
    _, keras_path = tiny_model("edsr")
    outputs = {}
    for name, model in (
        ("keras", keras_path),
        ("savedmodel", artifact("edsr", "savedmodel")),
        ("tflite", artifact("edsr", "none")),
    ):
        out = tmp_path / f"out_{name}"
        result = run(model, folder, single, "-o", out, "--tile", 24, "--overlap", 8)
        assert result.exit_code == 0, result.output
        assert result.output.splitlines()[-1] == f"Upscaled 3 images x2 into {out}"
        assert sorted(os.listdir(out)) == ["a.png", "b.jpg", "c.bmp"]
        assert read_image(out / "a.png").shape == (80, 100, 3)
        assert read_image(out / "b.jpg").shape == (60, 80, 3)
        with open(out / "b.jpg", "rb") as f:
            assert f.read(2) == b"\xff\xd8"
        outputs[name] = read_image(out / "a.png").astype(int)
    # The three formats give the same pixels (float32 everywhere).
    assert np.abs(outputs["tflite"] - outputs["keras"]).max() <= 1
    assert np.abs(outputs["savedmodel"] - outputs["keras"]).max() <= 1


def test_a_fixed_shape_model_tiles_with_its_size(tmp_path):
    _, single = make_inputs(tmp_path)
    big = tmp_path / "big.png"
    write_image(big, read_image(sample_image_paths()[0])[:50, :61])
    model = artifact("enlcn", "none", tile=(16, 20))
    result = run(model, big, single, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert read_image(tmp_path / "out" / "big.png").shape == (100, 122, 3)
    result = run(model, big, "-o", tmp_path / "out2", "--tile", 32)
    assert result.exit_code == 1
    assert (
        "takes fixed 16x20 inputs (exported with --input-size), so --tile 32"
        in result.output
    )
    assert not (tmp_path / "out2").exists()


def test_errors_are_one_line(tmp_path):
    folder, single = make_inputs(tmp_path)
    tflite = artifact("edsr", "none")
    cases = [
        (
            (tflite, tmp_path / "nope.png", "-o", tmp_path / "o"),
            "no such image file or folder",
        ),
        (
            (tflite, single, "-o", tmp_path / "o", "--scale", 3),
            "is a x2 model, but --scale 3",
        ),
        ((tmp_path / "model.tflite", single, "-o", tmp_path / "o"), "no such model"),
        ((tflite, folder, "-o", folder), "the output would overwrite the input"),
        (
            (tflite, single, "-o", tmp_path / "o", "--tile", 16, "--overlap", 8),
            "--overlap",
        ),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 1, result.output
        assert result.output.count("\n") == 1 and message in result.output, (
            result.output
        )
    assert not (tmp_path / "o").exists()
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    result = run(tflite, broken, "-o", tmp_path / "o")
    assert result.exit_code == 1 and "broken.png" in result.output
    assert not (tmp_path / "o").exists()  # nothing written, not even the folder


def test_upscale_as_a_subprocess(tmp_path):
    folder, _ = make_inputs(tmp_path)
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_enlca.cli.main",
            "upscale",
            artifact("edsr", "int8"),
            folder,
            "-o",
            out,
            "--threads",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Upscaled 2 images x2 into {out}"
    assert sorted(os.listdir(out)) == ["a.png", "b.jpg"]
    runner = open_runner(artifact("edsr", "int8"))
    expected = runner(read_image(folder / "a.png").astype(np.float32) / 255)
    got = read_image(out / "a.png").astype(np.float32) / 255
    assert np.abs(got - expected).max() <= 1 / 255 + 1e-6


def test_an_existing_output_folder_keeps_the_users_files(tmp_path):
    folder, single = make_inputs(tmp_path)
    tflite = artifact("edsr", "none")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("precious\n")
    write_image(out / "a.png", np.zeros((5, 5, 3), np.uint8))  # the user's own a.png
    result = run(tflite, folder, single, "-o", out)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {out / 'a.png'}: already exists; pass --overwrite to replace it.\n"
    )
    assert listing(out) == ["a.png", "notes.txt"]  # nothing upscaled, nothing replaced
    result = run(tflite, folder, single, "-o", out, "--overwrite")
    assert result.exit_code == 0, result.output
    assert listing(out) == ["a.png", "b.jpg", "c.bmp", "notes.txt"]
    assert read_image(out / "a.png").shape == (80, 100, 3)
    assert (out / "notes.txt").read_text() == "precious\n"
    # A second run into the folder without --overwrite names the first clash.
    result = run(tflite, folder, single, "-o", out)
    assert result.output.startswith(
        f"Error: {out / 'a.png'}: already exists (and 2 more"
    )


def test_a_disk_that_fills_up(tmp_path):
    folder, _ = make_inputs(tmp_path)
    tflite = artifact("edsr", "none")
    with tmpfs(tmp_path / "disk", 64) as disk:
        (disk / "notes.txt").write_text("precious\n")
        out = disk / "out"
        fill(disk)
        result = run(tflite, folder / "a.png", "-o", out)
        assert result.output == (
            f"Error: {out / 'a.png'}: cannot write in {disk} (No space left on device: "
            "0.0 MB free).\n"
        )
        os.remove(disk / "filler.bin")
        fill(disk, leave_bytes=4096)  # the 80x100 PNG needs more
        result = run(tflite, folder / "a.png", "-o", out)
        assert result.exit_code == 1
        assert result.output == (
            f"Error: {out / 'a.png'}: cannot write (No space left on device).\n"
        )
        assert listing(disk) == ["filler.bin", "notes.txt"]  # not even out/


def test_a_read_only_output_folder(tmp_path):
    folder, _ = make_inputs(tmp_path)
    with read_only_folder(tmp_path / "ro") as ro:
        result = run(artifact("edsr", "none"), folder, "-o", ro / "out")
        assert result.exit_code == 1 and result.output.count("\n") == 1
        assert result.output.startswith(
            f"Error: {ro / 'out' / 'a.png'}: cannot write in {ro} ("
        )
        assert listing(ro) == ["notes.txt"]


def test_a_file_size_limit_in_a_real_process(tmp_path):
    folder, _ = make_inputs(tmp_path)
    out = tmp_path / "out"
    done = run_cli_limited(
        ["upscale", artifact("edsr", "none"), folder / "a.png", "-o", out],
        limit_bytes=4096,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        f"Error: {out / 'a.png'}: cannot write (File too large); the file-size "
        "limit of this shell (ulimit -f) is below the file's size; raise it "
        "(ulimit -f unlimited)."
    ]
    assert not out.exists()


def run_on_a_terminal(args):
    """`enlca ARGS` with stderr on a pseudo-terminal; returns (code, stderr text)."""
    import pty

    leader, follower = pty.openpty()
    done = subprocess.Popen(
        [sys.executable, "-m", "keras_enlca.cli.main", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return done.wait(timeout=300), b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_a_large_single_image_shows_a_tile_bar_on_a_terminal_only(tmp_path):
    _, keras_path = tiny_model("edsr")
    photo = read_image(sample_image_paths()[3])[:48, :64]
    write_image(tmp_path / "big.png", photo)
    code, shown = run_on_a_terminal(
        [
            "upscale",
            keras_path,
            tmp_path / "big.png",
            "-o",
            tmp_path / "a",
            "--tile",
            16,
            "--overlap",
            4,
        ]
    )
    assert code == 0, shown
    from keras_enlca.evaluation import TiledUpscaler

    tiles = len(TiledUpscaler(None, 2, tile=16, overlap=4).plan(48, 64))
    assert "Upscaling big.png x2" in shown and f" {tiles}/{tiles}" in shown
    code, shown = run_on_a_terminal(
        [
            "upscale",
            keras_path,
            tmp_path / "big.png",
            "-o",
            tmp_path / "b",
            "--tile",
            16,
            "--overlap",
            4,
            "--quiet",
        ]
    )
    assert code == 0 and "Upscaling" not in shown and f"/{tiles}" not in shown, shown
    result = run(
        keras_path,
        tmp_path / "big.png",
        "-o",
        tmp_path / "c",
        "--tile",
        16,
        "--overlap",
        4,
    )
    assert result.exit_code == 0 and "Upscaling big.png" not in result.output
    assert np.array_equal(
        read_image(tmp_path / "a" / "big.png"), read_image(tmp_path / "c" / "big.png")
    )
