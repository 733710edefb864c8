"""A new user's bad inputs, end to end (issue 19): each one a test."""

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
from keras_enlca.utils.outputs import check_output_files
from keras_enlca.utils.outputs import output_locks
from tests.export.artifacts import artifact

ENLCA = [sys.executable, "-m", "keras_enlca.cli.main"]


def enlca(*args, cwd=None, env=None):
    return subprocess.Popen(
        [*ENLCA, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )


def photos(folder, count=3, size=48):
    os.makedirs(folder, exist_ok=True)
    for i in range(count):
        image = read_image(sample_image_paths()[i])[:size, :size]
        write_image(os.path.join(folder, f"p{i}.png"), image)
    return folder


@pytest.fixture
def lock_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ENLCA_LOCK_DIR", str(tmp_path / "locks"))
    return tmp_path / "locks"


def test_two_upscales_into_one_folder_never_mix(tmp_path, lock_dir):
    imgs = photos(tmp_path / "imgs")
    models = [artifact("edsr", "none"), artifact("a2n", "none")]
    out = tmp_path / "out"
    runs = [enlca("upscale", m, imgs, "-o", out, "--quiet") for m in models]
    done = [(r.wait(timeout=300), r.stderr.read()) for r in runs]
    codes = sorted(code for code, _ in done)
    assert codes == [0, 1], done
    winner = [i for i, (code, _) in enumerate(done) if code == 0][0]
    loser_err = done[1 - winner][1].strip().splitlines()
    assert len(loser_err) == 1
    assert ("another enlca command" in loser_err[0]) or (
        "already exists" in loser_err[0]
    ), loser_err
    # Every image comes from the command that succeeded.
    expected = tmp_path / "expected"
    alone = enlca("upscale", models[winner], imgs, "-o", expected, "--quiet")
    assert alone.wait(timeout=300) == 0, alone.stderr.read()
    assert sorted(os.listdir(out)) == ["p0.png", "p1.png", "p2.png"]
    for name in os.listdir(out):
        assert np.array_equal(read_image(out / name), read_image(expected / name))


def test_an_upscale_into_outputs_another_command_holds_is_refused(tmp_path, lock_dir):
    imgs = photos(tmp_path / "imgs", count=1)
    out = tmp_path / "out"
    with output_locks():
        check_output_files([out / "p0.png"])
        run = enlca("upscale", artifact("edsr", "none"), imgs, "-o", out)
        code, err = run.wait(timeout=300), run.stderr.read()
    assert code == 1
    assert err == (
        f"Error: {out / 'p0.png'}: another enlca command (pid {os.getpid()}) is "
        "writing it; wait for it to finish or choose another output.\n"
    )
    assert not os.path.exists(out / "p0.png")


def test_ctrl_c_exits_130_in_every_command(tmp_path, monkeypatch):
    import keras_enlca.inference.upscale_files as upscale_files

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(upscale_files, "upscale_file", interrupted)
    imgs = photos(tmp_path / "imgs", count=1)
    result = CliRunner().invoke(
        cli, ["upscale", artifact("edsr", "none"), str(imgs), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 130
    assert "Interrupted." in result.output and "Aborted!" not in result.output


def test_ctrl_c_during_a_native_import_exits_130(tmp_path, monkeypatch):
    # pybind11 turns a KeyboardInterrupt inside a module's initialisation
    # into `ImportError: initialization failed` raised from it.
    import keras_enlca.inference.upscale_files as upscale_files

    def interrupted_import(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as error:
            raise ImportError("initialization failed") from error

    monkeypatch.setattr(upscale_files, "upscale_file", interrupted_import)
    imgs = photos(tmp_path / "imgs", count=1)
    args = ["upscale", artifact("edsr", "none"), str(imgs), "-o", str(tmp_path / "o")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 130
    assert "Interrupted." in result.output and "ImportError" not in result.output

    # Any other ImportError is still an error.
    def broken_import(*args, **kwargs):
        raise ImportError("initialization failed")

    monkeypatch.setattr(upscale_files, "upscale_file", broken_import)
    result = CliRunner().invoke(cli, args + ["--overwrite"])
    assert result.exit_code == 1
    assert isinstance(result.exception, ImportError)


def _train(*args):
    return CliRunner().invoke(cli, ["train", *map(str, args)])


TINY_RUN = [
    "--epochs",
    "2",
    "--steps-per-epoch",
    "1",
    "--batch-size",
    "2",
    "--patch-size",
    "12",
    "--set",
    "model.args={num_blocks: 1, filters: 8}",
]


def test_a_run_resumes_from_any_folder_and_after_a_copy(tmp_path, monkeypatch):
    import shutil

    import yaml

    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    photos(project / "photos", count=2, size=40)
    elsewhere.mkdir()
    run_dir = tmp_path / "runs" / "r"
    monkeypatch.chdir(project)
    first = _train(
        "--preset", "edsr_small_x2", "--data", "photos", "--out", run_dir,
        "--time-limit", "1e-9", *TINY_RUN,
    )  # fmt: skip
    assert first.exit_code == 0, first.output
    assert "Stopped (time limit) at step 1 of 2" in first.output
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["data"]["train"]["dir"] == str(project / "photos")

    # A copy of the run folder, resumed from another working folder.
    copy = tmp_path / "copied" / "r"
    shutil.copytree(run_dir, copy)
    monkeypatch.chdir(elsewhere)
    for folder in (run_dir, copy):
        resumed = _train("--out", folder, "--set", "runtime.time_limit_minutes=null")
        assert resumed.exit_code == 0, resumed.output
        assert f"Resuming {folder} at step 1 of 2" in resumed.output
        assert (folder / "model.keras").exists()

    # Data gone: one line naming the key and the flag; the flag fixes it.
    shutil.move(project / "photos", tmp_path / "moved")
    again = tmp_path / "again"
    shutil.copytree(copy, again)
    shutil.rmtree(again / "checkpoints")
    result = _train("--out", again)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: 'data.train.dir': folder '{project / 'photos'}' does not exist; "
        "if the data moved, pass --set data.train.dir=FOLDER\n"
    )
    result = _train("--out", again, "--set", f"data.train.dir={tmp_path / 'moved'}")
    assert result.exit_code == 0, result.output
    assert "Done: 2 steps" in result.output


def _saved(model, path):
    model.save(path)
    return path


@pytest.fixture(scope="module")
def odd_models(tmp_path_factory):
    import keras
    from keras import layers

    folder = tmp_path_factory.mktemp("odd_models")
    gray_in = keras.Input((None, None, 1))
    gray = keras.Model(
        gray_in, layers.UpSampling2D(2)(layers.Conv2D(1, 3, padding="same")(gray_in))
    )
    rgb = keras.Input((None, None, 3))
    same = keras.Model(rgb, layers.Conv2D(3, 3, padding="same")(rgb))
    conv = layers.Conv2D(3, 3, padding="same")(rgb)
    bilinear = keras.Model(rgb, layers.UpSampling2D(2, interpolation="bilinear")(conv))
    bicubic = keras.Model(rgb, layers.UpSampling2D(2, interpolation="bicubic")(conv))
    return {
        "gray": _saved(gray, folder / "gray.keras"),
        "x1": _saved(same, folder / "x1.keras"),
        "bilinear": _saved(bilinear, folder / "bilinear.keras"),
        "bicubic": _saved(bicubic, folder / "bicubic.keras"),
    }


def one_error(result):
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    return lines[0][len("Error: ") :]


def test_a_one_channel_model_is_one_line_in_upscale_and_export(tmp_path, odd_models):
    gray = odd_models["gray"]
    imgs = photos(tmp_path / "imgs", count=1)
    expected = (
        f"{gray}: the model's inputs have 1 channel; enlca needs a super-resolution "
        "model with RGB (3-channel) NHWC inputs and outputs."
    )
    for args in (
        ["upscale", gray, imgs, "-o", tmp_path / "o"],
        ["export", gray, "-o", tmp_path / "g.tflite"],
    ):
        result = CliRunner().invoke(cli, list(map(str, args)))
        assert one_error(result) == expected
    # A real process: exactly one line on stderr, nothing on stdout.
    run = enlca("upscale", gray, imgs, "-o", tmp_path / "o2")
    out, err = run.communicate(timeout=300)
    assert run.returncode == 1 and out == ""
    assert err == f"Error: {expected}\n"
    assert not os.path.exists(tmp_path / "o2")


def test_models_that_upscale_nothing_or_need_a_size(tmp_path, odd_models):
    hr = photos(tmp_path / "hr", count=1)
    result = CliRunner().invoke(cli, ["eval", str(odd_models["x1"]), str(hr)])
    assert one_error(result) == (
        f"{odd_models['x1']}: the model's output is as large as its input (x1), so "
        "it upscales nothing; enlca needs a x2, x3, x4... super-resolution model."
    )
    model = odd_models["bilinear"]
    for fmt, name in (("tflite", "b.tflite"), ("onnx", "b.onnx")):
        result = CliRunner().invoke(
            cli, ["export", str(model), "--format", fmt, "-o", str(tmp_path / name)]
        )
        assert one_error(result) == (
            f"{os.path.abspath(model)}: UpSampling2D.call() cannot run on inputs of "
            "unknown size; export a fixed input size with --input-size H W."
        )
        assert os.listdir(tmp_path) == ["hr"]
    model = odd_models["bicubic"]
    result = CliRunner().invoke(
        cli,
        [
            *["export", str(model), "-o", str(tmp_path / "b.tflite")],
            *["--input-size", "32", "32"],
        ],
    )
    message = one_error(result)
    assert "tf.ResizeBicubic (at " in message and message.endswith(
        "Replace the bicubic resize (e.g. UpSampling2D or Resizing with "
        "interpolation='bicubic') by 'bilinear' or 'nearest', or a pixel shuffle."
    )


def test_calibration_on_images_smaller_than_its_crops(tmp_path):
    import json

    from tests.export.artifacts import tiny_model

    _, model = tiny_model("edsr")
    tiny = tmp_path / "tiny"
    write_image(tiny / "a.png", np.zeros((1, 1, 3), np.uint8))
    write_image(tiny / "b.png", np.full((3, 3, 3), 100, np.uint8))
    out = tmp_path / "q.tflite"
    args = ["export", str(model), "-o", str(out), "--quantize", "int8"]
    result = CliRunner().invoke(cli, [*args, "--calibration", str(tiny)])
    assert one_error(result) == (
        f"--calibration: {tiny / 'a.png'} is 1x1 pixels (and 1 more), smaller than "
        "the 16x16 that calibration needs; calibrate on photos like those the "
        "model will upscale."
    )
    assert not out.exists()
    # Images smaller than some crops: used whole, and the JSON says so.
    small = tmp_path / "small"
    photo = read_image(sample_image_paths()[0])
    write_image(small / "c.png", photo[:30, :40])
    write_image(small / "d.png", photo[100:150, 100:190])
    result = CliRunner().invoke(
        cli, [*args, "--calibration", str(small), "--calibration-crops", "6"]
    )
    assert result.exit_code == 0, result.output
    calibration = json.loads((tmp_path / "q.tflite.json").read_text())["calibration"]
    assert calibration["crops"] == 6
    assert calibration["crop_size"] == [[30, 40], [48, 48], [50, 64], [50, 90]]


@pytest.mark.parametrize(
    "args, message",
    [
        (["eval", "m.keras", "hr", "--scale", "5"], "5 is not one of 2, 3, 4, 8."),
        (["score", "sr", "hr", "--scale", "7"], "7 is not one of 2, 3, 4, 8."),
        (["convert", "c.pt", "--arch", "a2n", "--scale", "8", "-o", "m.keras"],
         "8 is not one of 2, 3, 4."),
        (["upscale", "m.tflite", "a.png", "-o", "out", "--scale", "1"],
         "1 is below 2."),
        (["export", "m.keras", "-o", "m.tflite", "--scale", "x"],
         "'x' is not an integer scale such as 2."),
        (["train", "--preset", "edsr", "--scale", "1"], "1 is below 2."),
        (["export", "m.keras", "-o", "m.tflite", "--tile", "7", "9"],
         "7 9 is below the 16-pixel minimum tile that enlca upscale and eval "
         "enforce; use at least 16 16."),
        (["export", "m.keras", "-o", "m.tflite", "--input-size", "16", "15"],
         "16 15 is below the 16-pixel minimum tile that enlca upscale and eval "
         "enforce; use at least 16 16."),
    ],
)  # fmt: skip
def test_option_values_are_usage_errors_in_every_command(args, message):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    option = next((o for o in ("--tile", "--input-size") if o in args), "--scale")
    assert f"Error: Invalid value for '{option}': {message}" in result.output


def test_one_definition_of_each_shared_option():
    """--scale, --tile/--overlap and MODEL come from cli/options.py only."""
    import keras_enlca.cli as package

    folder = os.path.dirname(package.__file__)
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".py") or name == "options.py":
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            text = f.read()
        for declaration in (
            '"--scale"',
            '"--tile"',
            '"--overlap"',
            'argument("model"',
            'argument(\n    "model"',
        ):
            assert declaration not in text, (name, declaration)


def test_each_shared_meaning_has_one_definition():
    """Issue 20: each list, name and default is defined once in the package."""
    import re

    import keras_enlca

    root = os.path.dirname(keras_enlca.__file__)
    sources = {}
    for folder, _, names in os.walk(root):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as f:
                    sources[os.path.relpath(path, root)] = f.read()

    def where(pattern):
        return sorted(p for p, text in sources.items() if re.search(pattern, text))

    assert where(r"(?m)^CONTRASTIVE_FORMS\s*=") == ["layers/contrastive.py"]
    assert where(r"_x\{scale\}_SR\.png") == ["evaluation/evaluator.py"]
    assert where(r"_x\{scale\}_comparison\.png") == ["evaluation/evaluator.py"]
    assert where(r"(?:tile|overlap)\s*=\s*(?:192|32)\b") == []
    assert where(r"(?m)^DEFAULT_TILE\s*=") == ["inference/tiling.py"]
    assert where(r"(?m)^DEFAULT_OVERLAP\s*=") == ["inference/tiling.py"]
    # Which layers are attention layers: the registry only.
    assert where(r"startswith\(\"A2N\"\)|upper\(\)\.startswith") == []
    assert where(r"isinstance\([^)]*(NonLocalAttention|NonLocalSparseAttention|"
                 r"EfficientNonLocalContrastiveAttention)\b") == []  # fmt: skip
    assert where(r"(?m)^def attention_kind\(") == ["models/registry.py"]
    assert where(r"(?m)^def load_model_for_eval\(") == ["inference/loader.py"]


def test_what_a_folder_input_leaves_out_is_said_in_one_line_each(tmp_path):
    from PIL import Image

    folder = photos(tmp_path / "in", count=1)
    photos(tmp_path / "in" / "sub" / "deeper", count=1)
    (tmp_path / "in" / "notes.txt").write_text("x")
    write_image(tmp_path / "in" / "tiny.png", np.zeros((1, 1, 3), np.uint8))
    Image.fromarray(np.zeros((20, 20, 4), np.uint8), "RGBA").save(folder / "rgba.png")
    Image.fromarray(np.zeros((20, 20), np.uint16)).save(folder / "deep.png")
    model = artifact("edsr", "none")
    result = CliRunner().invoke(
        cli, ["upscale", model, str(folder), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"Warning: {folder}: skipped 1 subfolder (pass --recursive to include "
        "them) and 1 file that is not an image.",
        f"Warning: {folder / 'tiny.png'} is 1x1 pixels, below the 16-pixel context "
        "the network needs; its result is close to plain resizing.",
        f"Warning: {folder / 'rgba.png'}: has an alpha channel, which is dropped "
        "(results are RGB).",
        f"Warning: {folder / 'deep.png'}: has more than 8 bits per sample, which "
        "are rounded to 8.",
        f"Upscaled 4 images x2 into {tmp_path / 'o'}",
    ]
    result = CliRunner().invoke(
        cli, ["upscale", model, str(folder), "-o", str(tmp_path / "r"), "--recursive"]
    )
    assert result.exit_code == 0, result.output
    assert f"Upscaled 5 images x2 into {tmp_path / 'r'}" in result.output
    assert read_image(tmp_path / "r" / "sub" / "deeper" / "p0.png").shape == (96, 96, 3)
    # Train and eval count what they skip too (they take no --recursive).
    hr = photos(tmp_path / "hr", count=1)
    (hr / "more").mkdir()
    result = CliRunner().invoke(
        cli, ["eval", str(tiny_keras()), str(hr), "--quiet", "--no-bicubic"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        f"Warning: {hr}: skipped 1 subfolder (subfolders are not searched)."
    )


def tiny_keras():
    from tests.export.artifacts import tiny_model

    return tiny_model("edsr")[1]


def test_ctrl_c_in_a_real_upscale_exits_130(tmp_path, lock_dir):
    import signal
    import time

    big = tmp_path / "big.png"
    write_image(big, np.tile(read_image(sample_image_paths()[0]), (2, 2, 1)))
    run = enlca(
        "upscale", artifact("edsr", "none"), big, "-o", tmp_path / "o", "--tile", 16
    )
    deadline = time.monotonic() + 120
    # The outputs are claimed once the checks pass: the command is at work.
    while not (lock_dir.exists() and os.listdir(lock_dir)):
        assert run.poll() is None and time.monotonic() < deadline, run.stderr.read()
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    assert err == "Interrupted.\n"
    assert not (tmp_path / "o").exists()
    assert not lock_dir.exists()


def test_messages_name_the_right_file_cause_and_fix(tmp_path):
    from keras_enlca.data.datasets import check_pair
    from keras_enlca.errors import InputError

    # A mismatched pair blames the LR, and names the scale it looks like.
    with pytest.raises(InputError) as caught:
        check_pair((10, 10, 3), (40, 40, 3), 2, "lr/a.png", "hr/a.png")
    assert str(caught.value) == (
        "lr/a.png: the LR image is 10x10, but its HR hr/a.png (40x40) needs 20x20 "
        "at x2; it is a x4 LR image; pass --scale 4."
    )
    with pytest.raises(InputError, match="it was not made from a.png at x2.$"):
        check_pair((10, 12, 3), (40, 40, 3), 2, "lr/a.png", "hr/a.png")
    # An unmatched SR folder: what was looked for, and the near miss.
    sr, hr = tmp_path / "sr", tmp_path / "hr"
    image = read_image(sample_image_paths()[0])[:32, :32]
    write_image(sr / "astronaut_SR.png", image)
    write_image(hr / "ast.png", image)
    result = CliRunner().invoke(cli, ["score", str(sr), str(hr), "--scale", "2"])
    assert one_error(result) == (
        f"No SR image for HR ast.png in {sr} (looked for 'ast' followed by nothing "
        "or by _, -, . or space and a suffix, e.g. ast_SR.png; astronaut_SR.png "
        "names another image)"
    )
    # A scale the network has no preset for.
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--preset",
            "enlcn_small",
            "--set",
            "scale=5",
            "--out",
            str(tmp_path / "run"),
            "--print-config",
        ],  # fmt: skip
    )
    assert one_error(result) == (
        "'scale' is 5, but enlcn_small has presets for x2, x3, x4 only; set scale "
        "(--scale or --set scale=N) to one of 2, 3, 4"
    )
    # A folder that takes no files.
    if os.path.isdir("/proc/self"):
        result = CliRunner().invoke(
            cli, ["upscale", artifact("edsr", "none"), str(hr), "-o", "/proc/x"]
        )
        assert one_error(result) == (
            "/proc/x/ast.png: /proc takes no new files (No such file or directory: "
            "a special file system); choose an output in another folder."
        )
