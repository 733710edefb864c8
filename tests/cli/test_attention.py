import json

import keras
from click.testing import CliRunner
from PIL import Image

from keras_enlca.cli.main import cli
from keras_enlca.data import write_image
from keras_enlca.visualization.panel_grid import GAP
from keras_enlca.visualization.panel_grid import LABEL_HEIGHT
from tests.visualization.repeated_texture import hand_set_model
from tests.visualization.repeated_texture import repeated_texture


def run(*args):
    return CliRunner().invoke(cli, ["attention", *map(str, args)])


def files(tmp_path, kind="ENLCA"):
    image, mask = repeated_texture()
    write_image(tmp_path / "texture.png", image)
    model_path = tmp_path / "model.keras"
    hand_set_model(kind).save(model_path)
    return tmp_path / "texture.png", model_path, mask


def test_attention_writes_the_figure_and_prints_the_summary(tmp_path):
    image, model, mask = files(tmp_path)
    out = tmp_path / "map.png"
    result = run(model, image, "--at", "21,9", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["point"] == {"x": 21, "y": 9}
    (layer,) = summary["layers"]
    assert layer["layer"] == "attention" and layer["shape"] == [32, 32]
    for row in (layer, layer["exact"]):
        assert all(mask[t["y"], t["x"]] for t in row["top"])
    assert result.stderr.startswith(f"Wrote {out}: 1 attention layer, 3 panels")
    with Image.open(out) as figure:
        assert figure.size == (3 * 256 + 4 * GAP, 256 + LABEL_HEIGHT + 2 * GAP)


def test_attention_refuses_bad_requests_in_one_line(tmp_path):
    image, model, _ = files(tmp_path, "NLA")
    inputs = keras.Input((None, None, 3))
    keras.Model(inputs, keras.layers.Conv2D(3, 1)(inputs)).save(
        tmp_path / "plain.keras"
    )
    (tmp_path / "taken.png").write_bytes(b"mine")
    cases = [
        (
            (model, image, "--at", "32,3", "-o", tmp_path / "a.png"),
            "--at 32,3: outside the 32x32 image",
        ),
        ((model, image, "--at", "3", "-o", tmp_path / "a.png"), "expected X,Y"),
        (
            (tmp_path / "plain.keras", image, "--at", "3,3", "-o", tmp_path / "a.png"),
            "has no NLA, NLSA or ENLCA attention layer",
        ),
        (
            (
                model,
                image,
                "--at",
                "3,3",
                "--layer",
                "body_9",
                "-o",
                tmp_path / "a.png",
            ),
            "--layer body_9: no attention layer of that name in ",
        ),
        ((model, image, "--at", "3,3", "-o", tmp_path / "taken.png"), "already exists"),
        (
            (model, tmp_path / "missing.png", "--at", "3,3", "-o", tmp_path / "a.png"),
            "missing.png",
        ),
        ((model, image, "--at", "3,3"), "Give -o FILE.png"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, result.stderr)
        assert result.stdout == ""
    assert not (tmp_path / "a.png").exists()
    assert (tmp_path / "taken.png").read_bytes() == b"mine"


def test_attention_help_has_examples():
    result = run("--help")
    assert result.exit_code == 0
    assert (
        "enlca attention enlcn_x2.keras facade.png --at 120,64 -o map.png"
        in result.output
    )
