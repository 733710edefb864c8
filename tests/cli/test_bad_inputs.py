"""Every command against bad inputs: one line on stderr naming the input, exit 1.

The table runs each command in-process (click's runner) on real broken files:
missing, empty, truncated, the wrong kind of file, the wrong scale, bad tile
options, outputs that exist. A bug (any exception that is not a user error)
would surface as `result.exception` and fail the row.
"""

import os
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from keras_enlca.cli.main import cli
from keras_enlca.data import read_image
from keras_enlca.data import sample_image_paths
from keras_enlca.data import write_image
from tests.export.artifacts import artifact
from tests.export.artifacts import tiny_model


def truncate(source, target, keep=0.5):
    with open(source, "rb") as f:
        data = f.read()
    with open(target, "wb") as f:
        f.write(data[: int(len(data) * keep)])
    return target


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Good models and images, and broken files of every kind, made once."""
    root = tmp_path_factory.mktemp("bad-inputs")
    f = {"root": root}
    f["tflite"] = artifact("edsr", "none")
    f["keras"] = tiny_model("edsr")[1]
    f["savedmodel"] = artifact("edsr", "savedmodel")
    photo = read_image(sample_image_paths()[3])
    f["png"] = write_image(root / "lr" / "photo.png", photo[:24, :30])
    # An HR folder (LR made by bicubic at x2) and SR results for `score`.
    write_image(root / "hr" / "a.png", photo[:48, :60])
    write_image(root / "sr" / "a.png", photo[:48, :60])
    write_image(root / "sr_small" / "a.png", photo[:24, :30])  # LR size: wrong scale
    for name in ("hr", "sr", "sr_small"):
        f[name] = root / name
    for name, content in (("missing", None), ("empty", b""), ("text", b"hello\n")):
        for ext in (".tflite", ".keras", ".png", ".pt"):
            path = root / f"{name}{ext}"
            if content is not None:
                path.write_bytes(content)
            f[f"{name}{ext}"] = path
    f["truncated.tflite"] = truncate(f["tflite"], root / "truncated.tflite")
    f["truncated.keras"] = truncate(f["keras"], root / "truncated.keras")
    f["truncated.png"] = truncate(f["png"], root / "truncated.png")
    f["truncated.pt"] = root / "truncated.pt"  # made with the checkpoint
    f["notes.txt"] = root / "notes.txt"
    f["notes.txt"].write_text("not an image\n")
    f["empty_dir"] = root / "empty_dir"
    f["empty_dir"].mkdir()
    broken = root / "broken_savedmodel"
    shutil.copytree(f["savedmodel"], broken)
    truncate(broken / "saved_model.pb", broken / "saved_model.pb", keep=0.3)
    f["broken_savedmodel"] = broken
    for name in ("truncated.png", "text.png"):
        folder = root / f"hr_with_{name}"
        folder.mkdir()
        shutil.copy(root / "hr" / "a.png", folder / "a.png")
        if name == "truncated.png":  # an HR-sized image (its LR is not tiny)
            truncate(root / "hr" / "a.png", folder / name)
        else:
            shutil.copy(f[name], folder / name)
        f[f"hr_with_{name}"] = folder
    for name in ("truncated", "text"):  # SR results named like their HR image
        folder = root / f"sr_{name}"
        folder.mkdir()
        shutil.copy(f[f"{name}.png"], folder / "a.png")
        f[f"sr_{name}"] = folder
    f["existing.json"] = root / "existing.json"
    f["existing.json"].write_text("{}\n")
    f["existing.tflite"] = root / "existing.tflite"
    f["existing.tflite"].write_bytes(b"an earlier export")
    f["saved"] = root / "saved"  # SR images of an earlier `eval --save-images`
    write_image(f["saved"] / "hr" / "a_x2_SR.png", photo[:48, :60])
    f["full_dir"] = root / "full_dir"
    f["full_dir"].mkdir()
    (f["full_dir"] / "notes.txt").write_text("precious\n")
    f["out"] = root / "out"  # never created by a failing row
    return f


def checkpoint(files):
    """A real A2N x3 checkpoint (legacy torch format), made on first use."""
    path = files["root"] / "aan_x3.pt"
    if not path.exists():
        import torch

        from keras_enlca.convert.layout import reference_layout
        from tests.convert.common import random_state_dict

        layout = reference_layout(
            "a2n", 3, num_blocks=1, features=8, upsample_features=8
        )
        state_dict = random_state_dict(layout, np.random.default_rng(0))
        torch.save(state_dict, path, _use_new_zipfile_serialization=False)
        truncate(path, files["root"] / "truncated.pt")
    return path


# (command line with {placeholders} from `files`, the input the line must name,
#  a fragment of the message)
CASES = [
    # upscale: models
    ("upscale {missing.tflite} {png} -o {out}", "missing.tflite", "no such model file"),
    (
        "upscale {empty.tflite} {png} -o {out}",
        "empty.tflite",
        "not a TFLite flatbuffer",
    ),
    (
        "upscale {truncated.tflite} {png} -o {out}",
        "truncated.tflite",
        "not a complete TFLite model",
    ),
    ("upscale {text.keras} {png} -o {out}", "text.keras", "not a .keras model"),
    (
        "upscale {truncated.keras} {png} -o {out}",
        "truncated.keras",
        "not a .keras model",
    ),
    ("upscale {empty.keras} {png} -o {out}", "empty.keras", "this one is empty"),
    ("upscale {empty_dir} {png} -o {out}", "empty_dir", "not a SavedModel"),
    (
        "upscale {broken_savedmodel} {png} -o {out}",
        "broken_savedmodel",
        "cannot load the SavedModel",
    ),
    ("upscale {notes.txt} {png} -o {out}", "notes.txt", "unknown model format"),
    # upscale: images and options
    ("upscale {tflite} {missing.png} -o {out}", "missing.png", "no such image file"),
    ("upscale {tflite} {empty.png} -o {out}", "empty.png", "Cannot read image"),
    ("upscale {tflite} {text.png} -o {out}", "text.png", "Cannot read image"),
    ("upscale {tflite} {truncated.png} -o {out}", "truncated.png", "Cannot read image"),
    ("upscale {tflite} {notes.txt} -o {out}", "notes.txt", "not an image file"),
    (
        "upscale {tflite} {empty_dir} -o {out}",
        "empty_dir",
        "the folder holds no images",
    ),
    (
        "upscale {tflite} {png} -o {out} --scale 3",
        "tflite",
        "is a x2 model, but --scale 3",
    ),
    (
        "upscale {tflite} {png} -o {out} --tile 1",
        "--tile 1",
        "tiles must be at least 16",
    ),
    (
        "upscale {tflite} {png} -o {out} --tile 16 --overlap 8",
        "--overlap 8",
        "smaller than half the tile (--tile 16)",
    ),
    (
        "upscale {tflite} {png} -o {out} --tile 0 --overlap 4",
        "--overlap",
        "only used with --tile",
    ),
    (
        "upscale {tflite} {png} -o {notes.txt}",
        "notes.txt",
        "is a file; give an output folder",
    ),
    ("upscale {tflite} {png} -o {png}", "photo.png", "is a file"),
    # eval
    ("eval {missing.tflite} {hr} --scale 2", "missing.tflite", "not found"),
    ("eval {truncated.tflite} {hr}", "truncated.tflite", "not a complete TFLite model"),
    ("eval {text.keras} {hr}", "text.keras", "not a .keras model"),
    ("eval {keras} {missing.png}", "missing.png", "not found"),
    ("eval {keras} {empty_dir}", "empty_dir", "No images"),
    ("eval {keras} {hr_with_truncated.png}", "truncated.png", "Cannot read image"),
    ("eval {keras} {hr_with_text.png}", "text.png", "Cannot read image"),
    ("eval {keras} {hr} --scale 3", "keras", "x2 model, but --scale 3"),
    ("eval {keras} {hr} --tile 1", "--tile 1", "tiles must be at least 16"),
    (
        "eval {keras} {hr} --tile 16 --overlap 8",
        "--overlap 8",
        "smaller than half the tile (--tile 16)",
    ),
    ("eval {keras} {hr} --overlap 8", "--overlap", "only used with --tile"),
    ("eval {keras} {hr} --json {existing.json}", "existing.json", "already exists"),
    (
        "eval {keras} {hr} --json {notes.txt}/r.json",
        "notes.txt",
        "is a file, not a folder",
    ),
    (
        "eval {keras} {hr} --save-images {saved}",
        "saved/hr/a_x2_SR.png",
        "already exists",
    ),
    # score
    ("score {missing.png} {hr} --scale 2", "missing.png", "not found"),
    ("score {empty_dir} {hr} --scale 2", "empty_dir", "No images"),
    ("score {sr_truncated} {hr} --scale 2", "sr_truncated/a.png", "Cannot read image"),
    ("score {sr_text} {hr} --scale 2", "sr_text/a.png", "Cannot read image"),
    (
        "score {sr} {hr_with_truncated.png} --scale 2",
        "truncated.png",
        "No SR image for HR",
    ),
    ("score {sr_small} {hr} --scale 2", "a.png", ""),
    (
        "score {sr} {hr} --scale 2 --json {existing.json}",
        "existing.json",
        "already exists",
    ),
    # info
    ("info {missing.tflite}", "missing.tflite", "no such model file"),
    ("info {empty.tflite}", "empty.tflite", "not a TFLite flatbuffer"),
    ("info {truncated.tflite}", "truncated.tflite", "not a complete TFLite model"),
    ("info {text.keras}", "text.keras", "not a .keras model"),
    ("info {truncated.keras}", "truncated.keras", "not a .keras model"),
    ("info {empty_dir}", "empty_dir", "not a SavedModel"),
    ("info {broken_savedmodel}", "broken_savedmodel", "cannot load the SavedModel"),
    # export
    ("export {missing.keras} -o {out}/m.tflite", "missing.keras", "no such model file"),
    ("export {text.keras} -o {out}/m.tflite", "text.keras", "not a .keras model"),
    (
        "export {truncated.keras} -o {out}/m.tflite",
        "truncated.keras",
        "not a .keras model",
    ),
    (
        "export {truncated.tflite} -o {out}/m.tflite",
        "truncated.tflite",
        "export needs the .keras model",
    ),
    ("export {keras} --scale 4 -o {out}/m.tflite", "keras", "x2 model, but --scale 4"),
    ("export {keras} -o {existing.tflite}", "existing.tflite", "already exists"),
    ("export {keras} --format savedmodel -o {full_dir}", "full_dir", "not empty"),
    (
        "export {keras} --format savedmodel -o {full_dir} --overwrite",
        "full_dir",
        "not part of the output (notes.txt)",
    ),
    ("export {keras} -o {out}/m.keras", "m.keras", "must end with .tflite"),
    (
        "export {keras} --quantize int8 --calibration {empty_dir} -o {out}/m.tflite",
        "empty_dir",
        "holds no images",
    ),
    (
        "export {keras} --verify {empty_dir} -o {out}/m.tflite",
        "empty_dir",
        "holds no images",
    ),
    ("export {keras} -o {notes.txt}/m.tflite", "notes.txt", "is a file, not a folder"),
    # convert
    (
        "convert {missing.pt} --arch a2n -o {out}/m.keras",
        "missing.pt",
        "no such checkpoint",
    ),
    (
        "convert {empty.pt} --arch a2n -o {out}/m.keras",
        "empty.pt",
        "not a PyTorch checkpoint",
    ),
    (
        "convert {text.pt} --arch a2n -o {out}/m.keras",
        "text.pt",
        "not a PyTorch checkpoint",
    ),
    (
        "convert {truncated.pt} --arch a2n -o {out}/m.keras",
        "truncated.pt",
        "not a PyTorch checkpoint",
    ),
    (
        "convert {tflite} --arch a2n -o {out}/m.keras",
        "tflite",
        "not a PyTorch checkpoint",
    ),
    (
        "convert {checkpoint} --arch a2n --scale 4 -o {out}/m.keras",
        "aan_x3.pt",
        "--scale 4 does not match",
    ),
    ("convert {checkpoint} --arch edsr -o {out}/m.keras", "aan_x3.pt", "--arch edsr"),
    (
        "convert {checkpoint} --arch a2n --scale 3 -o {existing.json}",
        "existing.json",
        "must be a .keras file",
    ),
    (
        "convert {checkpoint} --arch a2n --scale 3 -o {keras}",
        "edsr.keras",
        "already exists",
    ),
]


def expand(template, files):
    def value(name):
        if name == "checkpoint":
            return str(checkpoint(files))
        if name.endswith(".pt"):
            checkpoint(files)
        return str(files[name])

    words = []
    for word in template.split():
        while "{" in word:
            start, end = word.index("{"), word.index("}")
            word = word[:start] + value(word[start + 1 : end]) + word[end + 1 :]
        words.append(word)
    return words


@pytest.mark.parametrize("template,named,fragment", CASES, ids=[c[0] for c in CASES])
def test_a_bad_input_is_one_line_naming_it(files, template, named, fragment):
    args = expand(template, files)
    before = sorted(os.listdir(files["root"]))
    result = CliRunner().invoke(cli, args)
    assert isinstance(result.exception, SystemExit), (result.exception, result.output)
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert (
        line.startswith("Error: ")
        and "Traceback" not in line
        and "ENLCA_DEBUG" not in line
    )
    assert named in line and fragment in line, line
    if os.environ.get("ENLCA_SHOW_TABLE"):
        print(f"\nTABLE {template} -> {line}")
    assert not files["out"].exists()  # nothing written
    assert sorted(os.listdir(files["root"])) == before
    assert (files["full_dir"] / "notes.txt").read_text() == "precious\n"


def test_the_table_covers_every_command_that_reads_user_files():
    commands = {case[0].split()[0] for case in CASES}
    assert commands == {"upscale", "eval", "score", "info", "export", "convert"}
    assert len(CASES) >= 70


@pytest.mark.parametrize("kind", ["gray", "16-bit", "rgba"])
def test_unusual_but_valid_images_are_upscaled(files, tmp_path, kind):
    """Gray, 16-bit and RGBA PNGs are images too: read as 8-bit RGB."""
    from PIL import Image

    photo = read_image(files["png"])
    path = tmp_path / f"{kind}.png"
    if kind == "gray":
        Image.fromarray(photo[..., 1]).save(path)
    elif kind == "16-bit":
        Image.fromarray(photo[..., 1].astype(np.uint16) * 257).save(path)
    else:
        Image.fromarray(
            np.dstack([photo, np.full(photo.shape[:2], 128, np.uint8)])
        ).save(path)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["upscale", str(files["tflite"]), str(path), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert read_image(out / path.name).shape == (48, 60, 3)


def test_eval_and_upscale_share_the_tile_rule(files, tmp_path):
    """`eval --tile 16` no longer fails on the default --overlap 32; both adapt it."""
    result = CliRunner().invoke(
        cli,
        ["eval", str(files["keras"]), str(files["hr"]), "--tile", "16", "--no-bicubic"],
    )
    assert result.exit_code == 0, result.output
    assert "tile 16, overlap 7" in result.output
    result = CliRunner().invoke(
        cli,
        [
            "upscale",
            str(files["keras"]),
            str(files["png"]),
            "-o",
            str(tmp_path / "o"),
            "--tile",
            "16",
        ],
    )
    assert result.exit_code == 0, result.output
